// JobDemo.java - report a job's life to the monitoring engine from Java.
//
// The same story as examples/c/job_demo.c: a lot (a parent job) with one step that fails the way
// a real tool reports a chamber fault. Each call below becomes one event:
//
//   client.job(...)        -> kind "started",  status "running"
//   job.progress(...)      -> kind "progress", status "running", with a percentage
//   job.metric(...)        -> kind "metric",   and the value is remembered for the end
//   job.metadata(...)      -> no event; the key/value is attached to every later event
//   job.fail / cancel / succeed -> kind "error" | "canceled" | "finished", with the remembered
//                            metrics plus duration_s, cpu_user_s, cpu_system_s, mem_max_mb
//
// No configuration (Monitoring.configure()): events go to JSONL files under ./monitoring-events.
// Set MONITORING_CONFIG to a YAML/JSON file, or MONITORING_APP_NAME and friends, to change that.
//
// Run (single-file source launch, JDK 17+):
//   java -cp java/target/monitoring-0.1.0.jar java/examples/JobDemo.java
// then look at ./monitoring-events/*.jsonl (the demo prints them too).

import dev.monitoring.Client;
import dev.monitoring.InvalidEventException;
import dev.monitoring.Job;
import dev.monitoring.Monitoring;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

public class JobDemo {
    public static void main(String[] args) throws Exception {
        // 1. One client per process, created once, shared by every thread.
        try (Client client = Monitoring.configure()) {
            // A plain event: any schema v1 object; the SDK fills in the key, the time, the app.
            client.emit(Map.of("entity", Map.of("type", "tool", "id", "ETCH-07"),
                    "event", Map.of("kind", "metric", "metrics", Map.of("temp_c", 21.5))));

            // 2. The parent job: entity type "lot".
            try (Job lot = client.job("LOT-42", "lot")) {
                lot.metadata("recipe", "ETCH-STD-7");

                // 3. A child step: its events carry entity.parent_id = the lot's id.
                try (Job step = client.jobBuilder("etch").entityType("step").parent(lot).start()) {
                    step.metadata("tool", "ETCH-07");
                    System.out.println("lot  job id: " + lot.id() + "\nstep job id: " + step.id());

                    // 4. Work, with progress (0..100) and metrics.
                    for (int wafer = 1; wafer <= 4; wafer++) {
                        Thread.sleep(50); // ... etch one wafer ...
                        step.progress(wafer * 100.0 / 8, "wafer " + wafer + " of 8 etched");
                    }
                    step.metric("wafers_etched", 4);
                    step.metric("chamber_pressure_mtorr", 812.5);

                    // Invalid input is refused with a clear message and nothing is sent:
                    try {
                        step.progress(150, "too far");
                    } catch (InvalidEventException e) {
                        System.out.println("rejected as expected: " + e.getMessage());
                    }

                    // 5. The chamber faults: the step ends as failed (kind "error") with the reason.
                    step.fail("chamber pressure out of range");
                }
                // The lot cannot go on without the step: cancel it (kind "canceled").
                lot.cancel("step etch failed");
            }

            // 6. Before exiting: wait up to 5 s for delivery (close() then shuts down).
            client.flush(Duration.ofSeconds(5));
        }

        // What was written:
        Path dir = Paths.get("monitoring-events");
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> p.toString().endsWith(".jsonl")).sorted().collect(Collectors.toList());
        }
        System.out.println("\nevents written to " + dir.toAbsolutePath() + ":");
        int n = 0;
        for (Path f : files) {
            for (String line : Files.readAllLines(f)) {
                System.out.println(line);
                n++;
            }
        }
        System.out.println("\n" + n + " events in " + files.size() + " file(s)");
    }
}
