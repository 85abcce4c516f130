package dev.monitoring;

/**
 * The identity of a job beyond its name, then {@link #start()}:
 *
 * <pre>{@code
 * try (Job job = client.jobBuilder("etch").entityType("lot").businessKey("LOT-42").start()) { ... }
 * }</pre>
 *
 * Every field is optional (null: not given). Not thread-safe; {@code start()} may be called more
 * than once (one job each time).
 */
public final class JobBuilder {
    private final Client client;
    private final String name;
    private String entityType;
    private String parentId;
    private String businessKey;
    private String subKey;

    JobBuilder(Client client, String name) {
        this.client = client;
        this.name = name;
    }

    /** {@code entity.type}; default {@code job}. */
    public JobBuilder entityType(String entityType) {
        this.entityType = entityType;
        return this;
    }

    /** {@code entity.parent_id}: the id of the job this one is part of. */
    public JobBuilder parentId(String parentId) {
        this.parentId = parentId;
        return this;
    }

    /** {@code entity.parent_id} = {@code parent.id()}. */
    public JobBuilder parent(Job parent) {
        this.parentId = parent == null ? null : parent.id();
        return this;
    }

    /** {@code entity.business_key}: what the business calls this job (a lot, an order). */
    public JobBuilder businessKey(String businessKey) {
        this.businessKey = businessKey;
        return this;
    }

    /** {@code entity.sub_key}: a finer key under the business key (a wafer, a line). */
    public JobBuilder subKey(String subKey) {
        this.subKey = subKey;
        return this;
    }

    /**
     * Starts the job: emits {@code started} (status {@code running}).
     *
     * @throws InvalidEventException for an empty name or a {@code started} event the engine
     *     rejects
     * @throws MonitoringException {@link StatusCode#SHUTDOWN} after the client's shutdown
     */
    public Job start() {
        return Job.start(client, name, entityType, parentId, businessKey, subKey);
    }
}
