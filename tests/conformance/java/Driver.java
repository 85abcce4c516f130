// Conformance driver for the Java package (dev.monitoring).
//
//     java -cp monitoring.jar:. Driver SCENARIO.json OUT_DIR RESULTS.jsonl
//
// Replays a scenario's steps through the public Java API and records one JSON line per call. It
// judges nothing: tests/conformance/check.py does (see ../README.md). `event` steps are passed as
// Maps (so the package's own Map-to-JSON writer is tested), `event_json` as String, `event_hex` as
// byte[] (Client.emit(byte[])). Exceptions map back to status names: MonitoringException.status(),
// InvalidEventException (an IllegalArgumentException) is invalid_argument; emit and the job calls
// return false for an event dropped at a full queue (queue_full). Any other exception is a
// driver_error: a conformance failure of the binding.
//
// Self-contained (its own small JSON reader and writer) so that the scenario is not read by the
// code under test.

import dev.monitoring.Client;
import dev.monitoring.InvalidEventException;
import dev.monitoring.Job;
import dev.monitoring.Monitoring;
import dev.monitoring.MonitoringException;

import java.io.BufferedWriter;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

public final class Driver {
    private final BufferedWriter out;
    private Client client;
    private final Map<String, Job> jobs = new HashMap<>();
    /** Finished or unfinished, jobs stay referenced until exit (never collected into `canceled`). */
    private final List<Job> abandoned = new ArrayList<>();

    private Driver(BufferedWriter out) {
        this.out = out;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: Driver SCENARIO.json OUT_DIR RESULTS.jsonl");
            System.exit(2);
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> scenario = (Map<String, Object>) new Reader(
                new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8)).parse();
        Path outDir = Paths.get(args[1]);
        Files.createDirectories(outDir);
        try (var listing = Files.list(outDir)) {
            if (listing.findAny().isPresent()) {
                System.err.println("driver: OUT_DIR is not empty: " + outDir);
                System.exit(2);
            }
        }
        try (BufferedWriter w = Files.newBufferedWriter(Paths.get(args[2]), StandardCharsets.UTF_8)) {
            new Driver(w).run(scenario, args[1]);
        }
    }

    @SuppressWarnings("unchecked")
    private void run(Map<String, Object> scenario, String outDir) throws IOException {
        String config = Writer.write(scenario.get("config")).replace("${OUT_DIR}", outDir);
        client = call("configure", "configure", () -> Monitoring.configure(config), null);
        if (client == null) {
            return;
        }
        List<Object> steps = (List<Object>) scenario.getOrDefault("steps", List.of());
        for (int i = 0; i < steps.size(); i++) {
            step(i, (Map<String, Object>) steps.get(i));
        }
        call("final_flush", "flush", () -> { client.flush(Duration.ofMillis(10000)); return Boolean.TRUE; }, null);
        call("final_shutdown", "shutdown", () -> { client.shutdown(Duration.ofMillis(10000)); return Boolean.TRUE; }, null);
        abandoned.addAll(jobs.values());
    }

    private void step(int i, Map<String, Object> step) throws IOException {
        String op = String.valueOf(step.get("op"));
        long timeout = step.get("timeout_ms") == null ? 5000 : ((Number) step.get("timeout_ms")).longValue();
        switch (op) {
            case "emit": {
                if (step.containsKey("event")) {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> event = (Map<String, Object>) step.get("event");
                    call(i, op, () -> client.emit(event), null);
                } else if (step.containsKey("event_hex")) {
                    byte[] bytes = hex((String) step.get("event_hex"));
                    call(i, op, () -> client.emit(bytes), null);
                } else {
                    String json = (String) step.get("event_json");
                    call(i, op, () -> client.emit(json), null);
                }
                return;
            }
            case "flush":
                call(i, op, () -> { client.flush(Duration.ofMillis(timeout)); return Boolean.TRUE; }, null);
                return;
            case "shutdown":
                call(i, op, () -> { client.shutdown(Duration.ofMillis(timeout)); return Boolean.TRUE; }, null);
                return;
            case "stats": {
                Map<String, Object> stats = call(i, op, client::stats, s -> s);
                return;
            }
            case "sleep":
                try {
                    Thread.sleep(((Number) step.get("ms")).longValue());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                record(i, op, "ok", "", null, false);
                return;
            case "job_start": {
                String label = (String) step.get("job");
                String parentId = (String) step.get("parent_id");
                if (step.get("parent") != null) {
                    Job parent = jobs.get((String) step.get("parent"));
                    if (parent == null) {
                        record(i, op, "driver_error", "unknown parent job", null, false);
                        return;
                    }
                    parentId = parent.id();
                }
                if (jobs.containsKey(label)) {
                    record(i, op, "driver_error", "job label already open", null, false);
                    return;
                }
                String pid = parentId;
                Job job = call(i, op, () -> client.job((String) step.get("name"), (String) step.get("entity_type"), pid),
                        Job::id);
                if (job != null) {
                    jobs.put(label, job);
                }
                return;
            }
            default:
                break;
        }
        Job job = jobs.get((String) step.get("job"));
        if (job == null) {
            record(i, op, "driver_error", "unknown job label (start failed?)", null, false);
            return;
        }
        switch (op) {
            case "job_progress":
                call(i, op, () -> job.progress(num(step.get("percent")), (String) step.get("message")), null);
                break;
            case "job_metric":
                call(i, op, () -> job.metric((String) step.get("name"), num(step.get("value"))), null);
                break;
            case "job_metadata":
                call(i, op, () -> { job.metadata((String) step.get("key"), step.get("value")); return Boolean.TRUE; },
                        null);
                break;
            case "job_finish":
                // forget the label whatever the result (the job is ended either way)
                abandoned.add(jobs.remove((String) step.get("job")));
                call(i, op, () -> job.finish((String) step.get("status"), (String) step.get("message")), null);
                break;
            default:
                record(i, op, "driver_error", "unknown op", null, false);
        }
    }

    /** Runs fn; records ok (with value(result) if given), queue_full for FALSE, or the exception's status. */
    private <T> T call(Object step, String op, Supplier<T> fn, java.util.function.Function<T, Object> value)
            throws IOException {
        T result;
        try {
            result = fn.get();
        } catch (MonitoringException e) {
            record(step, op, e.status().wireName(), e.getMessage(), null, false);
            return null;
        } catch (InvalidEventException e) {
            record(step, op, e.status().wireName(), e.getMessage(), null, false);
            return null;
        } catch (RuntimeException e) {
            record(step, op, "driver_error", e.getClass().getName() + ": " + e.getMessage(), null, false);
            return null;
        }
        if (Boolean.FALSE.equals(result)) {
            record(step, op, "queue_full", "queue full: event dropped", null, false);
        } else if (value != null) {
            record(step, op, "ok", "", value.apply(result), true);
        } else {
            record(step, op, "ok", "", null, false);
        }
        return result;
    }

    private void record(Object step, String op, String status, String error, Object value, boolean hasValue)
            throws IOException {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("step", step);
        line.put("op", op);
        line.put("status", status);
        line.put("error", error == null ? "" : error);
        if (hasValue) {
            line.put("value", value);
        }
        out.write(Writer.write(line));
        out.write('\n');
        out.flush();
    }

    private static double num(Object v) {
        if (v instanceof String) {
            switch ((String) v) {
                case "NaN": return Double.NaN;
                case "Infinity": return Double.POSITIVE_INFINITY;
                case "-Infinity": return Double.NEGATIVE_INFINITY;
                default: throw new IllegalArgumentException("not a number: " + v);
            }
        }
        return ((Number) v).doubleValue();
    }

    private static byte[] hex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    /** Strict JSON to Map (insertion order) / List / String / Long / BigInteger / Double / Boolean / null. */
    static final class Reader {
        private final String s;
        private int i;

        Reader(String s) {
            this.s = s;
        }

        Object parse() {
            Object v = value();
            ws();
            if (i != s.length()) {
                throw new IllegalArgumentException("trailing text at " + i);
            }
            return v;
        }

        private void ws() {
            while (i < s.length() && " \t\r\n".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
        }

        private Object value() {
            ws();
            char c = s.charAt(i);
            if (c == '{') {
                i++;
                Map<String, Object> m = new LinkedHashMap<>();
                ws();
                if (s.charAt(i) == '}') {
                    i++;
                    return m;
                }
                while (true) {
                    ws();
                    String k = string();
                    ws();
                    expect(':');
                    m.put(k, value());
                    ws();
                    if (s.charAt(i++) == '}') {
                        return m;
                    }
                }
            }
            if (c == '[') {
                i++;
                List<Object> l = new ArrayList<>();
                ws();
                if (s.charAt(i) == ']') {
                    i++;
                    return l;
                }
                while (true) {
                    l.add(value());
                    ws();
                    if (s.charAt(i++) == ']') {
                        return l;
                    }
                }
            }
            if (c == '"') {
                return string();
            }
            if (s.startsWith("true", i)) {
                i += 4;
                return Boolean.TRUE;
            }
            if (s.startsWith("false", i)) {
                i += 5;
                return Boolean.FALSE;
            }
            if (s.startsWith("null", i)) {
                i += 4;
                return null;
            }
            int start = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
            String t = s.substring(start, i);
            if (t.matches("-?\\d+")) {
                BigInteger b = new BigInteger(t);
                return b.bitLength() < 64 ? (Object) b.longValue() : b;
            }
            return Double.parseDouble(t);
        }

        private void expect(char c) {
            if (s.charAt(i++) != c) {
                throw new IllegalArgumentException("expected " + c + " at " + (i - 1));
            }
        }

        private String string() {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (true) {
                char c = s.charAt(i++);
                if (c == '"') {
                    return b.toString();
                }
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n': b.append('\n'); break;
                    case 'r': b.append('\r'); break;
                    case 't': b.append('\t'); break;
                    case 'b': b.append('\b'); break;
                    case 'f': b.append('\f'); break;
                    case 'u': b.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; break;
                    default: b.append(e);
                }
            }
        }
    }

    /** Compact JSON from what Reader produces (and the results' values). */
    static final class Writer {
        static String write(Object v) {
            StringBuilder b = new StringBuilder();
            write(b, v);
            return b.toString();
        }

        private static void write(StringBuilder b, Object v) {
            if (v == null) {
                b.append("null");
            } else if (v instanceof String) {
                String s = (String) v;
                b.append('"');
                for (int i = 0; i < s.length(); i++) {
                    char c = s.charAt(i);
                    if (c == '"' || c == '\\') {
                        b.append('\\').append(c);
                    } else if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
                b.append('"');
            } else if (v instanceof Map) {
                b.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                    if (!first) {
                        b.append(',');
                    }
                    first = false;
                    write(b, String.valueOf(e.getKey()));
                    b.append(':');
                    write(b, e.getValue());
                }
                b.append('}');
            } else if (v instanceof List) {
                b.append('[');
                boolean first = true;
                for (Object o : (List<?>) v) {
                    if (!first) {
                        b.append(',');
                    }
                    first = false;
                    write(b, o);
                }
                b.append(']');
            } else {
                b.append(v); // Long, BigInteger, Double (Double.toString round-trips), Boolean
            }
        }
    }
}
