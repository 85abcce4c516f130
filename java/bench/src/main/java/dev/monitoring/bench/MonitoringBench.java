package dev.monitoring.bench;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

import dev.monitoring.BenchAccess;
import dev.monitoring.Client;
import dev.monitoring.Job;
import dev.monitoring.Monitoring;

/**
 * dev.monitoring: the caller's cost of one call, per call (SampleTime: every call timed).
 * Direct mode, one filesystem backend (JSONL, {@code fsync: never} like the loggers it is compared
 * with), the default queue (65536 events, {@code on_full: drop}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 3)
@Measurement(iterations = 3, time = 5)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class MonitoringBench {
    Client client;
    Map<String, Object> event;
    String json;
    long calls;
    Path dir;

    @Setup(Level.Trial)
    public void setup() {
        dir = Events.out("monitoring");
        Events.deleteTree(dir);
        Events.deleteTree(Events.out("monitoring-spool"));
        client = Monitoring.configure("{\"app\":{\"name\":\"bench\",\"version\":\"1\",\"site_id\":\"fab1\"},"
                + "\"direct_backends\":[{\"type\":\"filesystem\",\"name\":\"local\",\"path\":\"" + dir
                + "\",\"fsync\":\"never\"}],\"spool\":{\"path\":\"" + Events.out("monitoring-spool") + "\"}}");
        event = Events.map();
        json = Events.JSON;
    }

    @TearDown(Level.Trial)
    public void tearDown(BenchmarkParams params) {
        client.flush(Duration.ofSeconds(120));
        Map<String, Object> s = client.stats();
        client.shutdown(Duration.ofSeconds(30));
        if (calls == 0) {
            return; // the breakdown benchmarks send nothing
        }
        long perCall = params.getBenchmark().endsWith("jobLifecycle") ? 4 : 1;
        Events.record(params.getBenchmark(), calls, perCall, Events.lines(dir),
                "emitted " + s.get("emitted") + ", dropped at a full queue " + s.get("dropped"));
    }

    /** emit(String): JSON text passed as it is (ASCII: getBytes in Java; else read natively). */
    @Benchmark
    public boolean emitString() {
        calls++;
        return client.emit(json);
    }

    /** emit(Map): nested maps written as JSON by the Java serializer, then passed as bytes. */
    @Benchmark
    public boolean emitMap() {
        calls++;
        return client.emit(event);
    }

    /** The alternative to emitMap, measured: the map walked through JNI from Rust. */
    @Benchmark
    public boolean emitMapViaJni() {
        calls++;
        return BenchAccess.emitMapViaJni(client, event);
    }

    /** The alternative to emitString, measured: the String always read from native code. */
    @Benchmark
    public boolean emitStringNativeRead() {
        calls++;
        return BenchAccess.emitStringNativeRead(client, json);
    }

    /** The alternative to emitString, measured: String.getBytes(UTF_8) in Java, then emit(byte[]). */
    @Benchmark
    public boolean emitStringAsBytes() {
        calls++;
        return client.emit(json.getBytes(StandardCharsets.UTF_8));
    }

    /** Breakdown: one JNI round trip that does nothing (the floor under every call). */
    @Benchmark
    public boolean jniRoundTrip() {
        return BenchAccess.jniRoundTrip(client);
    }

    /** Breakdown: the Java half of emitMap alone (the map written as JSON bytes, nothing sent). */
    @Benchmark
    public int mapToJson() {
        return BenchAccess.mapToJson(event);
    }

    /** A whole job: start, progress, metric, succeed (four events). */
    @Benchmark
    public boolean jobLifecycle() {
        calls++;
        Job job = client.job("etch");
        job.progress(50, "half");
        job.metric("wafers", 25);
        return job.succeed();
    }
}
