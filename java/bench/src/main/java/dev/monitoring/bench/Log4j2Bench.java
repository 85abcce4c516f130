package dev.monitoring.bench;

import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.apache.logging.log4j.message.MapMessage;
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
 * Log4j2 2.24: all loggers async (AsyncLoggerContextSelector: the LMAX disruptor ring buffer,
 * 256 Ki slots), JsonTemplateLayout (ECS template) into a RandomAccessFile appender without
 * immediate flush; a full ring buffer discards (log4j2.asyncQueueFullPolicy=Discard), like
 * {@code on_full: drop}, instead of making the caller wait.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 3)
@Measurement(iterations = 3, time = 5)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g",
        "-Dlog4j2.contextSelector=org.apache.logging.log4j.core.async.AsyncLoggerContextSelector",
        "-Dlog4j2.asyncQueueFullPolicy=Discard",
        "-Dlog4j2.configurationFile=classpath:log4j2-bench.xml"})
public class Log4j2Bench {
    Logger logger;
    Map<String, Object> fields;
    String json;
    long calls;

    @Setup(Level.Trial)
    public void setup() {
        Events.out("log4j2.jsonl").toFile().delete();
        logger = LogManager.getLogger("bench");
        fields = Events.flat();
        json = Events.JSON;
    }

    @TearDown(Level.Trial)
    public void tearDown(BenchmarkParams params) {
        LogManager.shutdown(); // drains the ring buffer, flushes and closes the file
        Events.record(params.getBenchmark(), calls, 1, Events.lines(Events.out("log4j2.jsonl")),
                "the rest discarded at a full ring buffer");
    }

    /** A structured message (MapMessage of the event's fields), like emit(Map). */
    @Benchmark
    public void mapMessage() {
        calls++;
        logger.info(new MapMessage<>(fields));
    }

    /** The event's JSON text as the message, like emit(String). */
    @Benchmark
    public void stringMessage() {
        calls++;
        logger.info(json);
    }
}
