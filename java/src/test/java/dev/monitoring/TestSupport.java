package dev.monitoring;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** Shared helpers: configurations writing to a directory, and reading the events back. */
final class TestSupport {
    private TestSupport() {}

    /** The standard test configuration: one filesystem backend writing to {@code dir}. */
    static String config(Path dir) {
        return config(dir, "");
    }

    /** As {@link #config(Path)}, with extra top-level JSON members (e.g. {@code "queue":{...}}). */
    static String config(Path dir, String extra) {
        return "{\"mode\":\"direct\",\"app\":{\"name\":\"java-test\",\"version\":\"1.0\",\"site_id\":\"fab1\","
                + "\"instance_id\":\"host-t:1\"},\"direct_backends\":[{\"type\":\"filesystem\",\"name\":\"local\","
                + "\"path\":\"" + dir.toAbsolutePath() + "\"}],\"spool\":{\"path\":\""
                + dir.resolveSibling(dir.getFileName() + "-spool").toAbsolutePath() + "\"}"
                + (extra.isEmpty() ? "" : "," + extra) + "}";
    }

    /** Every event written under {@code dir} (*.jsonl, files in name order). */
    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> events(Path dir) {
        List<Map<String, Object>> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".jsonl")).sorted().collect(Collectors.toList())) {
                for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
                    if (!line.isBlank()) {
                        out.add((Map<String, Object>) JsonReader.parse(line));
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> event(Map<String, Object> e) {
        return (Map<String, Object>) e.get("event");
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> entity(Map<String, Object> e) {
        return (Map<String, Object>) e.get("entity");
    }

    static String kind(Map<String, Object> e) {
        return (String) event(e).get("kind");
    }

    /** Events whose entity.id is {@code id}, in file order. */
    static List<Map<String, Object>> ofEntity(List<Map<String, Object>> events, String id) {
        return events.stream().filter(e -> id.equals(entity(e).get("id"))).collect(Collectors.toList());
    }

    /** The repository root (the java/ project's parent). */
    static Path repoRoot() {
        String p = System.getProperty("monitoring.repo.root");
        Path root = p != null ? Paths.get(p) : Paths.get("..");
        root = root.toAbsolutePath().normalize();
        assertTrue(Files.isDirectory(root.resolve("tests/conformance")), "repository root not found: " + root);
        return root;
    }

    /** The cargo target directory (shared by the workspace). */
    static Path cargoTarget() {
        String p = System.getProperty("monitoring.test.cargoTargetDir");
        return (p != null ? Paths.get(p) : repoRoot().resolve("target")).toAbsolutePath().normalize();
    }

    static String run(List<String> command, Path dir, Map<String, String> env, long timeoutSeconds)
            throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true);
        if (env != null) {
            pb.environment().putAll(env);
        }
        Path log = Files.createTempFile("monitoring-test-", ".log");
        pb.redirectOutput(log.toFile());
        Process p = pb.start();
        boolean done = p.waitFor(timeoutSeconds, java.util.concurrent.TimeUnit.SECONDS);
        if (!done) {
            p.destroyForcibly();
            p.waitFor();
        }
        String out = Files.readString(log, StandardCharsets.UTF_8);
        Files.deleteIfExists(log);
        if (!done) {
            throw new AssertionError("timed out after " + timeoutSeconds + " s: " + command + "\n" + out);
        }
        if (p.exitValue() != 0) {
            throw new AssertionError("exit " + p.exitValue() + ": " + command + "\n" + out);
        }
        return out;
    }
}
