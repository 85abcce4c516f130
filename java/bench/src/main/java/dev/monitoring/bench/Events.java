package dev.monitoring.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

/** The one event every benchmark sends, in each library's form, and the bookkeeping. */
final class Events {
    private Events() {}

    /** Schema v1 JSON text (the engine fills in key, time, app, site). 214 bytes. */
    static final String JSON = "{\"entity\":{\"type\":\"tool\",\"id\":\"ETCH-07\"},\"event\":{\"kind\":\"metric\","
            + "\"message\":\"chamber reading\",\"metrics\":{\"temp_c\":21.5,\"pressure_mtorr\":812.5,\"wafers\":25},"
            + "\"metadata\":{\"recipe\":\"ETCH-STD-7\",\"lot\":\"LOT-42\"}}}";

    /** The same event as nested maps. */
    static Map<String, Object> map() {
        Map<String, Object> entity = new LinkedHashMap<>();
        entity.put("type", "tool");
        entity.put("id", "ETCH-07");
        Map<String, Object> metrics = new LinkedHashMap<>();
        metrics.put("temp_c", 21.5);
        metrics.put("pressure_mtorr", 812.5);
        metrics.put("wafers", 25);
        Map<String, Object> metadata = new LinkedHashMap<>();
        metadata.put("recipe", "ETCH-STD-7");
        metadata.put("lot", "LOT-42");
        Map<String, Object> event = new LinkedHashMap<>();
        event.put("kind", "metric");
        event.put("message", "chamber reading");
        event.put("metrics", metrics);
        event.put("metadata", metadata);
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("entity", entity);
        root.put("event", event);
        return root;
    }

    /** The same fields, flat (what a logger's structured message or a log record's attributes hold). */
    static Map<String, Object> flat() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("entity.type", "tool");
        m.put("entity.id", "ETCH-07");
        m.put("kind", "metric");
        m.put("message", "chamber reading");
        m.put("temp_c", 21.5);
        m.put("pressure_mtorr", 812.5);
        m.put("wafers", 25L);
        m.put("recipe", "ETCH-STD-7");
        m.put("lot", "LOT-42");
        return m;
    }

    static Path out(String name) {
        try {
            Path dir = Paths.get("out");
            Files.createDirectories(dir);
            return dir.resolve(name);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void deleteTree(Path p) {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            s.sorted((a, b) -> b.getNameCount() - a.getNameCount()).forEach(f -> f.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Lines in a file, or in every *.jsonl of a directory. */
    static long lines(Path p) {
        try {
            if (Files.isDirectory(p)) {
                long n = 0;
                try (Stream<Path> s = Files.list(p)) {
                    for (Path f : (Iterable<Path>) s::iterator) {
                        if (f.toString().endsWith(".jsonl")) {
                            n += lines(f);
                        }
                    }
                }
                return n;
            }
            if (!Files.exists(p)) {
                return 0;
            }
            try (Stream<String> s = Files.lines(p, StandardCharsets.UTF_8)) {
                return s.count();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One line of bookkeeping per benchmark run: how much of what was sent arrived. */
    static void record(String benchmark, long calls, long eventsPerCall, long written, String note) {
        String line = String.format("{\"benchmark\":\"%s\",\"calls\":%d,\"events\":%d,\"written\":%d,\"note\":\"%s\"}%n",
                benchmark, calls, calls * eventsPerCall, written, note);
        try {
            Files.writeString(Paths.get("bench-stats.jsonl"), line, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
