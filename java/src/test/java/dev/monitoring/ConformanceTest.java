package dev.monitoring;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/**
 * The cross-language conformance scenarios (tests/conformance/scenarios), replayed through the
 * Java driver (tests/conformance/java/Driver.java) by {@code tests/conformance/run.sh java} and
 * judged by check.py, against the classes of this build (target/classes, with the native library).
 */
class ConformanceTest {
    @Test
    void everyScenarioPasses() throws Exception {
        Path root = TestSupport.repoRoot();
        Path classes = Paths.get(Client.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Map<String, String> env = new HashMap<>();
        env.put("CONFORMANCE_JAVA_CP", classes.toString());
        env.put("CONFORMANCE_WORK", classes.getParent().resolve("conformance").toString());
        // run.sh builds libmonitoring.so (its C checks need it) unless told not to; skip that when
        // it is there already (others may be compiling in the shared target directory)
        if (Files.exists(TestSupport.cargoTarget().resolve("release/libmonitoring.so"))) {
            env.put("CONFORMANCE_NO_BUILD", "1");
        }
        env.put("CARGO_TARGET_DIR", TestSupport.cargoTarget().toString());
        String out;
        try {
            out = TestSupport.run(List.of("bash", root.resolve("tests/conformance/run.sh").toString(), "java"), root,
                    env, 1200);
        } finally {
            System.out.flush();
        }
        System.out.println(out);
        String[] lines = out.trim().split("\n");
        String last = lines[lines.length - 1];
        assertTrue(last.matches("\\d+ passed, 0 failed") && !last.startsWith("0 "), "conformance: " + last + "\n" + out);
    }
}
