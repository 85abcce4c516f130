package dev.monitoring;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The jar as a user gets it: a fresh Maven project in a temporary directory outside the source
 * tree depends on dev.monitoring:monitoring (installed in the local repository by
 * {@code mvn install}; java/run-tests.sh does that first), compiles a program against it, and runs
 * it in its own JVM (exec:exec) with nothing else installed: the native library comes from the jar.
 */
class ConsumerProjectTest {
    @Test
    void aFreshProjectUsesTheInstalledJar() throws Exception {
        String version = System.getProperty("monitoring.project.version", "0.1.0");
        Path built = Paths.get(System.getProperty("monitoring.jar", "target/monitoring-" + version + ".jar"));
        Path repo = Paths.get(System.getProperty("maven.repo.local", System.getProperty("user.home") + "/.m2/repository"));
        Path installed = repo.resolve("dev/monitoring/monitoring/" + version + "/monitoring-" + version + ".jar");
        boolean required = Boolean.getBoolean("monitoring.requireConsumerTest");
        String why = null;
        if (!Files.exists(built)) {
            why = "no jar at " + built + " (run `mvn install` first; java/run-tests.sh does)";
        } else if (!Files.exists(installed)) {
            why = "the jar is not installed at " + installed + " (run `mvn install` first; java/run-tests.sh does)";
        } else if (!Arrays.equals(Files.readAllBytes(built), Files.readAllBytes(installed))) {
            why = "the installed jar " + installed + " is not this build's (run `mvn install`)";
        }
        if (why != null) {
            assertTrue(!required, why);
            Assumptions.abort("skipped: " + why);
        }

        Path dir = Files.createTempDirectory("monitoring-consumer-");
        Files.writeString(dir.resolve("pom.xml"), String.join("\n",
                "<project xmlns=\"http://maven.apache.org/POM/4.0.0\">",
                "  <modelVersion>4.0.0</modelVersion>",
                "  <groupId>example</groupId><artifactId>consumer</artifactId><version>1.0</version>",
                "  <properties><maven.compiler.release>17</maven.compiler.release>",
                "    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding></properties>",
                "  <dependencies>",
                "    <dependency><groupId>dev.monitoring</groupId><artifactId>monitoring</artifactId>",
                "      <version>" + version + "</version></dependency>",
                "  </dependencies>",
                "  <build><plugins>",
                "    <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-resources-plugin</artifactId>",
                "      <version>3.3.1</version></plugin>",
                "    <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-compiler-plugin</artifactId>",
                "      <version>3.13.0</version></plugin>",
                "    <plugin><groupId>org.codehaus.mojo</groupId><artifactId>exec-maven-plugin</artifactId>",
                "      <version>3.5.0</version>",
                "      <configuration><executable>java</executable>",
                "        <arguments><argument>-classpath</argument><classpath/><argument>example.Main</argument></arguments>",
                "      </configuration></plugin>",
                "  </plugins></build>",
                "</project>", ""));
        Path src = dir.resolve("src/main/java/example");
        Files.createDirectories(src);
        Files.writeString(src.resolve("Main.java"), String.join("\n",
                "package example;",
                "import dev.monitoring.*;",
                "import java.nio.file.*;",
                "import java.time.Duration;",
                "import java.util.Map;",
                "public class Main {",
                "  public static void main(String[] args) throws Exception {",
                "    String config = \"app: {name: consumer, version: '1.0', site_id: fab1}\\n\"",
                "        + \"direct_backends: [{type: filesystem, name: local, path: ./events}]\\n\";",
                "    try (Client client = Monitoring.configure(config)) {",
                "      client.emit(Map.of(\"event\", Map.of(\"kind\", \"log\", \"message\", \"hello from a consumer\")));",
                "      try (Job job = client.job(\"etch\", \"lot\")) {",
                "        job.progress(50, \"half\");",
                "        job.fail(\"chamber pressure out of range\");",
                "      }",
                "      client.flush(Duration.ofSeconds(10));",
                "    }",
                "    try (var files = Files.list(Paths.get(\"events\"))) {",
                "      for (Path f : (Iterable<Path>) files.sorted()::iterator) {",
                "        for (String line : Files.readAllLines(f)) System.out.println(\"EVENT \" + line);",
                "      }",
                "    }",
                "  }",
                "}", ""));
        String out = TestSupport.run(List.of("mvn", "-B", "-q", "-Dmaven.repo.local=" + repo, "compile", "exec:exec"),
                dir, Map.of(), 600);
        System.out.println(out);
        assertTrue(out.contains("hello from a consumer"), out);
        assertTrue(out.contains("\"kind\":\"error\"") && out.contains("chamber pressure out of range"), out);
        assertTrue(out.contains("\"kind\":\"started\""), out);
        assertTrue(!dir.startsWith(TestSupport.repoRoot()), "the consumer must be outside the source tree");
    }
}
