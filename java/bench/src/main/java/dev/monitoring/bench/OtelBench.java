package dev.monitoring.bench;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.api.logs.Logger;
import io.opentelemetry.api.logs.Severity;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.logs.SdkLoggerProvider;
import io.opentelemetry.sdk.logs.data.LogRecordData;
import io.opentelemetry.sdk.logs.export.BatchLogRecordProcessor;
import io.opentelemetry.sdk.logs.export.LogRecordExporter;
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

/**
 * The OpenTelemetry Java SDK (1.46) logs: SdkLoggerProvider, BatchLogRecordProcessor with its
 * defaults (queue 2048, batches of 512, every 1 s; a full queue drops), and a file exporter
 * written for this benchmark (one JSON line per record: time, severity, body, attributes), run on
 * the processor's export thread like the engine's filesystem backend.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 3)
@Measurement(iterations = 3, time = 5)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class OtelBench {
    SdkLoggerProvider provider;
    Logger logger;
    Attributes attributes;
    String json;
    long calls;
    Path file;

    @Setup(Level.Trial)
    public void setup() throws IOException {
        file = Events.out("otel.jsonl");
        Files.deleteIfExists(file);
        provider = SdkLoggerProvider.builder()
                .addLogRecordProcessor(BatchLogRecordProcessor.builder(new FileExporter(file)).build())
                .build();
        logger = provider.get("bench");
        AttributesBuilder b = Attributes.builder();
        for (Map.Entry<String, Object> e : Events.flat().entrySet()) {
            Object v = e.getValue();
            if (v instanceof Double) {
                b.put(AttributeKey.doubleKey(e.getKey()), (Double) v);
            } else if (v instanceof Long) {
                b.put(AttributeKey.longKey(e.getKey()), (Long) v);
            } else {
                b.put(AttributeKey.stringKey(e.getKey()), (String) v);
            }
        }
        attributes = b.build();
        json = Events.JSON;
    }

    @TearDown(Level.Trial)
    public void tearDown(BenchmarkParams params) {
        provider.shutdown().join(60, TimeUnit.SECONDS);
        Events.record(params.getBenchmark(), calls, 1, Events.lines(file), "the rest dropped at a full queue");
    }

    /** A log record with the event's fields as attributes, like emit(Map). */
    @Benchmark
    public void attributes() {
        calls++;
        logger.logRecordBuilder().setSeverity(Severity.INFO).setBody("chamber reading").setAllAttributes(attributes)
                .emit();
    }

    /** A log record whose body is the event's JSON text, like emit(String). */
    @Benchmark
    public void stringBody() {
        calls++;
        logger.logRecordBuilder().setSeverity(Severity.INFO).setBody(json).emit();
    }

    /** One JSON line per record into a file (the exporter runs on the processor's thread). */
    static final class FileExporter implements LogRecordExporter {
        private final BufferedWriter out;
        private final StringBuilder line = new StringBuilder(512);

        FileExporter(Path file) throws IOException {
            out = Files.newBufferedWriter(file, StandardCharsets.UTF_8);
        }

        @Override
        public synchronized CompletableResultCode export(Collection<LogRecordData> logs) {
            try {
                for (LogRecordData r : logs) {
                    line.setLength(0);
                    line.append("{\"time_unix_nano\":").append(r.getTimestampEpochNanos())
                            .append(",\"severity\":\"").append(r.getSeverity()).append("\",\"body\":");
                    quote(r.getBody().asString());
                    line.append(",\"attributes\":{");
                    boolean[] first = {true};
                    r.getAttributes().forEach((k, v) -> {
                        if (!first[0]) {
                            line.append(',');
                        }
                        first[0] = false;
                        quote(k.getKey());
                        line.append(':');
                        if (v instanceof String) {
                            quote((String) v);
                        } else {
                            line.append(v);
                        }
                    });
                    line.append("}}\n");
                    out.append(line);
                }
                return CompletableResultCode.ofSuccess();
            } catch (IOException e) {
                return CompletableResultCode.ofFailure();
            }
        }

        private void quote(String s) {
            line.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                if (c == '"' || c == '\\') {
                    line.append('\\');
                }
                line.append(c);
            }
            line.append('"');
        }

        @Override
        public synchronized CompletableResultCode flush() {
            try {
                out.flush();
                return CompletableResultCode.ofSuccess();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public synchronized CompletableResultCode shutdown() {
            try {
                out.close();
                return CompletableResultCode.ofSuccess();
            } catch (IOException e) {
                return CompletableResultCode.ofFailure();
            }
        }
    }
}
