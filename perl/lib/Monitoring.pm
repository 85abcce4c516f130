package Monitoring;

use 5.014;
use strict;
use warnings;

our $VERSION = '0.1.0';

require XSLoader;
XSLoader::load('Monitoring', $VERSION);

require Monitoring::Error;
require Monitoring::Client;
require Monitoring::Job;

sub configure {
    my ($class, $config) = @_;
    # Monitoring::configure($path) would take the path for the class and configure from defaults
    Monitoring::Error::_throw(1, 'invalid argument: usage: Monitoring->configure($config)')
      unless @_ <= 2 && defined $class && !ref $class && $class->isa('Monitoring');
    return Monitoring::Client->new($config);
}

1;

__END__

=encoding utf8

=head1 NAME

Monitoring - report what your jobs do (started, progress, metrics, finished, failed) without being slowed down or crashed by the reporting

=head1 SYNOPSIS

    use Monitoring;

    # undef: the environment (MONITORING_CONFIG, MONITORING_APP_NAME, ...) and the defaults,
    # i.e. JSONL files under ./monitoring-events
    my $client = Monitoring->configure('monitoring.yaml');

    # Any event of schema v1; the SDK fills in the key, the time, the app and the site.
    $client->emit({ entity => { type => 'tool', id => 'ETCH-07' },
                    event  => { kind => 'metric', metrics => { temp_c => 21.5 } } });
    $client->emit('{"event":{"kind":"log","message":"JSON text works too"}}');

    # A job: `started`, progress and metrics, then one final event with its duration, CPU time
    # and peak memory, measured by the engine.
    my $job = $client->job('etch', entity_type => 'lot');
    $job->metadata(lot => 'LOT-42');            # on every later event of the job
    $job->progress(50, 'half way');
    $job->metric(wafers => 25);
    $job->finish('failed', 'chamber pressure out of range');   # or 'succeeded', 'canceled'

    # A job that is never finished is finished when its object goes away: `canceled`, or
    # `failed` (kind `error`) with the exception's message when it goes away because of a die.
    eval {
        my $step = $client->job('etch', parent => $job);
        die "chamber pressure out of range\n";  # -> an `error` event with this message
    };

    # The same as a block: `succeeded` at the end, `failed` if it dies (the die propagates).
    $client->with_job('etch', sub {
        my ($job) = @_;
        ...
    }, entity_type => 'lot');

    $client->flush(5);                          # wait up to 5 s until delivered
    my $stats = $client->stats;                 # { emitted => ..., delivered => ..., ... }
    $client->shutdown(5);

=head1 DESCRIPTION

The Perl face of the monitoring SDK. The engine is a Rust library (C<libmonitoring.so>, its C ABI
in C<monitoring.h>): it validates and enriches every event on the caller's thread, queues it in a
bounded queue and delivers it from background threads, in batches, to the configured backends
(JSONL files, HTTP webhooks, the C<monitoring-sidecar> agent, ...), with retries, a circuit breaker
and a dead-letter file, so that a slow or broken backend never blocks or breaks the program.
This module is a thin XS binding to it: the same calls, the same events and the same error
messages as the C, Python, Java and R bindings.

=head1 INSTALLATION

The distribution needs the C library: build it with C<cargo build --release -p monitoring-ffi>
in the SDK's source tree and install it with C<make install PREFIX=...> (which installs
C<monitoring.pc> for pkg-config). Then:

    perl Makefile.PL && make && make test && make install

F<Makefile.PL> takes the library from, in this order: C<MONITORING_LIBDIR> (and
C<MONITORING_INCDIR>, default C<LIBDIR/../include>) or C<MONITORING_PREFIX> (C<PREFIX/lib> and
C<PREFIX/include>), if set; C<pkg-config monitoring> (set C<PKG_CONFIG_PATH=PREFIX/lib/pkgconfig>
for a prefix pkg-config does not search); the SDK source tree the distribution sits in
(C<../target/release>, C<../include>). The module is linked with an rpath to that directory, so
it loads without C<LD_LIBRARY_PATH>. Perl 5.14 or later; nothing from CPAN (C<JSON::PP>, in the
core, decodes C<stats>).

=head1 THE CLIENT

=head2 Monitoring->configure($config)

Returns a L<Monitoring::Client> (C<< Monitoring::Client->new($config) >> is the same).
C<$config> is one of

=over

=item undef

The environment and the defaults: C<MONITORING_CONFIG> (a file), C<MONITORING_MODE>,
C<MONITORING_SIDECAR_URL>, C<MONITORING_SIDECAR_TOKEN>, C<MONITORING_APP_NAME>,
C<MONITORING_APP_VERSION>, C<MONITORING_SITE_ID>, C<MONITORING_INSTANCE_ID>. With none of them,
direct mode with one filesystem backend writing JSONL under F<./monitoring-events>.

=item a path

To a F<.yaml>, F<.yml> or F<.json> file.

=item YAML or JSON text

Text that starts with C<{> or contains a newline is read as the configuration itself.

=item a hash reference

The configuration as Perl data, encoded to JSON by the module.

=back

See the SDK's README for the keys (C<app>, C<mode>, C<sidecar>, C<direct_backends>, C<queue>,
C<retry>, ...). Environment variables override the file; C<${VAR}> and C<${VAR:-default}> are
expanded in file values. An unknown or invalid key dies with a L<Monitoring::Error::Config>
naming its path (C<configuration error at direct_backends[1].bukcet: unknown field ...>).

Create one client per process and share it; every method may be called from anywhere.

=head2 $client->emit(\%event) / $client->emit($json)

Validates one event and queues it; never waits for I/O. Returns true when the event was queued,
false when it was dropped because the queue is full (C<queue.on_full: drop>, the default; the
drop is counted in C<stats>; C<on_full: block> waits for room instead). Dies with a
L<Monitoring::Error::InvalidArgument> when the event is invalid, naming the field
(C<invalid event: event.colour: unknown field ...>); nothing is queued then.

The event is a hash reference (encoded to JSON by the module, see L</PERL DATA AND JSON>) or JSON
text: a character string, or bytes (UTF-8, as read from a file), passed as they are.

Fields the event leaves out are filled in: C<idempotency_key> (a UUIDv7), C<event.at> (now, UTC),
C<site_id> and C<app> (from the configuration), C<entity> (the application instance),
C<metrics> and C<metadata> (C<{}>).

=head2 $client->job($name, %options)

Starts a job: emits C<started> (status C<running>) and returns a L</"THE JOB"> object. Options:

=over

=item entity_type => $type

The job's C<entity.type>; default C<job> (a lot, a step, a recipe, ...).

=item parent_id => $id_or_job, parent => $job

The parent job (its id becomes C<entity.parent_id>): a job object or an id string.

=item business_key => $key, sub_key => $key

C<entity.business_key> and C<entity.sub_key> on every event of the job: the ids the factory
knows it by (a lot, a wafer).

=back

Dies with a L<Monitoring::Error> when the job cannot be started (an empty name, a client that is
shut down, a full queue: no job exists then).

=head2 $client->with_job($name, sub { my ($job) = @_; ... }, %options)

Runs the block as a job (options as for C<job>) and returns what the block returns (in the
caller's context). The job is finished as C<succeeded> when the block returns and it is not
finished yet; when the block dies, as C<failed> with the exception's message (and
C<metadata.error_type>, the class of an exception object), and the exception is re-thrown as it
was. Errors of the monitoring itself inside C<with_job> (a client shut down meanwhile) are
ignored, never thrown at the application.

=head2 $client->flush($seconds = 5)

Waits until every event emitted before the call is delivered (or given up on and written to the
dead-letter file). Returns true; dies with L<Monitoring::Error::Timeout> at the deadline (the
events are still queued then and delivery goes on).

=head2 $client->shutdown($seconds = 5)

Stops accepting events, flushes within the deadline and stops the engine's threads. Idempotent.
After it, C<emit>, C<job>, C<flush> and job calls die with L<Monitoring::Error::Shutdown>.
A client that is not shut down is shut down when it is freed (when its object and all of its
jobs are gone, at the latest at program exit), with a deadline of 2 seconds; call C<shutdown>
with a longer one where delivery may take longer.

=head2 $client->stats

The engine's counters, as a hash reference: C<emitted>, C<dropped>, C<delivered>, C<failed>,
C<retried>, C<spooled>, C<queue_depth>, C<invalid>, C<unrouted>, and per backend
(C<< $stats->{backends}{NAME} >>) C<delivered>, C<failed>, C<retried>, C<dropped>,
C<dead_lettered> and C<breaker> (C<closed>, C<open>, C<half_open>).

=head1 THE JOB

C<< $client->job(...) >> returns a C<Monitoring::Job>.

=over

=item $job->id

Its id (a UUIDv7, its C<entity.id>); still there after the job is finished.

=item $job->name

=item $job->progress($percent, $message)

Emits C<progress> (status C<running>); C<$percent> from 0 to 100, C<$message> optional.

=item $job->metric($name => $value, ...)

Emits one C<metric> event per pair, in order (an invalid pair dies; the pairs before it were
sent); the last value of each metric is also reported in the job's final event. Values must be
finite numbers.

=item $job->metadata($key => $value, ...)

Adds the pairs to the C<metadata> of every later event of the job. Emits nothing.

=item $job->finish($status = 'succeeded', $message)

Ends the job: C<succeeded> emits C<finished>, C<failed> emits C<error>, C<canceled> emits
C<canceled>, each with C<duration_s>, C<cpu_user_s>, C<cpu_system_s> and C<mem_max_mb>
measured by the engine and the metrics reported so far. Once the engine has been called the job
is finished whatever it answers: an unknown status dies, emits nothing and finishes the job all
the same (as a client that is shut down does). Only an argument the module refuses before calling
the engine (a C<NUL> character in the message) leaves the job open. Calling any method but C<id>,
C<name> and C<is_finished> on a finished job dies.

=item $job->is_finished

=back

C<progress>, C<metric> and C<finish> return true when the event was queued and false when the
queue was full; invalid values die with L<Monitoring::Error::InvalidArgument> (naming the
field, C<event.progress>, C<event.metrics.temp_c>) and emit nothing.

A job keeps its client alive: the client is freed (and flushed) only when its object B<and> all
of its unfinished jobs are gone, so a job's final event is never lost to the order in which Perl
destroys objects, even during global destruction at exit.

=head2 Jobs left unfinished

A job whose object goes away (end of scope, C<undef>, program exit) before C<finish> is finished
by C<DESTROY>, with these rules, in this order:

=over

=item 1.

The program is dying of an uncaught exception (a C<die> outside any C<eval>): C<failed>
(kind C<error>) with the exception's message. (Perl sets no C<$@> for such a die; the module
records it with a C<$SIG{__DIE__}> hook installed when it is loaded, which calls any handler that
was there before it. A C<$SIG{__DIE__}> assigned later replaces the hook: such jobs then end as
C<canceled>.)

=item 2.

C<$@> holds an exception that was not already in C<$@> when the job started: C<failed> with its
message (trailing newline removed, at most 8 KiB; an exception object is stringified and its class
recorded as C<metadata.error_type>). This is the case of a C<die> inside an C<eval>: Perl sets
C<$@> before it unwinds the scopes the exception leaves, so the job's C<DESTROY> sees it.

=item 3.

Otherwise C<canceled>, with the message C<the job was not finished (its object went out of
scope)>, or C<the program ended before the job finished> during global destruction.

=back

The limits of rule 2 are Perl's: C<$@> is not cleared when an C<eval> succeeds B<outside> the
job's own scope, so a failed C<eval> inside the job's scope whose error was handled, followed by
the job going out of scope unfinished, reports that error (set C<$@ = ''> after handling it, or
finish the job). An error already in C<$@> when the job started is not taken for the job's.
C<exit> is not an exception: a job open at C<exit> is C<canceled>.

C<DESTROY> never dies and never changes C<$@>. Finish jobs explicitly where the outcome matters;
C<DESTROY> is the safety net.

=head1 PERL DATA AND JSON

C<emit(\%event)> and C<configure(\%config)> encode Perl data with the module's own encoder, which
keeps what the engine needs exact (C<JSON::XS> and C<JSON::PP> write doubles with 15 significant
digits, which does not round-trip):

=over

=item *

Numbers stay numbers: integers as integers, doubles in the shortest form that reads back as the
same double (C<0.30000000000000004>, C<1.7976931348623157e+308>). C<NaN> and infinities die
(JSON cannot carry them), naming the field.

=item *

Strings stay strings, even when they look like numbers (C<"25"> is written C<"25">, and the
engine refuses it as a metric value): write C<$x + 0> for a number read from text. A number that
was only printed stays a number on Perl 5.36 and later. (This is the C<JSON::XS> rule.)

=item *

Text is Perl character strings, written as UTF-8: decoded input, or literals under
C<use utf8>. A byte string is taken as Latin-1 characters (as C<JSON::XS> does), so UTF-8 bytes
that were never decoded would be encoded twice: decode them first (C<Encode::decode('UTF-8', ...)>)
or pass the whole event as JSON text. Text arguments of the other calls (names, messages, keys)
follow the same rule; a C<NUL> character in them dies.

=item *

C<undef> is C<null> (kept, not dropped), C<{}> stays an object, C<[]> an array.

=item *

Booleans: C<\1> and C<\0>, C<JSON::PP::true>/C<false> (and C<Types::Serialiser>,
C<Cpanel::JSON::XS>, C<boolean>, Mojo's), and Perl 5.36's C<!!1>/C<!!0>.

=item *

Objects: the result of their C<TO_JSON> method; else their string, when they overload C<"">; else
the call dies. Code, glob and other references die, naming the field; so does nesting deeper than
512 levels (a reference cycle).

=back

C<Monitoring::encode_json($data)> returns the text the module would send, as UTF-8 bytes.

=head1 ERRORS

Every call that fails dies with a L<Monitoring::Error> object, the engine's message unchanged
in C<< ->message >>, the status name in C<< ->status >> (C<invalid_argument>, C<config>,
C<queue_full>, C<timeout>, C<shutdown>, C<io>, C<internal>), one subclass per status
(C<Monitoring::Error::InvalidArgument>, ...). It stringifies like C<croak>: the message, then
C<at FILE line N.> of the calling code.

    my $ok = eval { $client->emit($event); 1 };
    warn 'not sent: ', $@->message, "\n" if !$ok && ref $@ && $@->isa('Monitoring::Error');

The module never dies in C<DESTROY>, in C<with_job>'s own finishing, or at exit.

=head1 FORK

Safe without doing anything. When the module is loaded it registers handlers with
C<pthread_atfork(3)>, so every C<fork> is covered, whoever calls it (C<fork>, C<open '-|'>,
C<system>, modules): the handlers pair the engine's C<monitoring_before_fork> and
C<monitoring_after_fork_parent>, and mark the child. In the child, the engine is restarted (fresh
threads, its own JSONL file named for the child's pid, a default C<app.instance_id> with the
child's pid) on the child's first call into the module. So:

=over

=item *

A child that uses the client inherited from its parent just works: its events are delivered
when it flushes, shuts down, or exits normally (C<exit>, or the end of the program: the client is
freed, flushing with a 2-second deadline). A child ending with C<POSIX::_exit> must call
C<< $client->flush >> first.

=item *

A child that never calls the module (C<system>, backticks, C<exec>) starts no threads and pays
nothing.

=item *

Jobs inherited from the parent belong to the parent: when a child drops them (at its exit), they
are released without any event (the parent finishes them). A child may still call methods on them
explicitly.

=back

Why handlers rather than a check of C<$$> on every call: the handlers see every fork, including
those made by other modules and C libraries; they run the engine's C<before_fork> hook, which a
check after the fact cannot (the engine takes its client-registry lock there, so that no client
is half-created in the copied address space, and asks for the three hooks to be paired); and they
cost nothing per call (the child's restart is a flag tested on each call). And rather than
leaving the hooks to users: a child that misses them queues events that no thread delivers (the parent's threads are not copied by fork).
C<POSIX::pthread_atfork> does not exist; the XS code registers the handlers in C. For a child made without C<fork(3)> (a raw
C<clone> syscall), call C<Monitoring::after_fork_child()> in the child; the functions
C<Monitoring::before_fork()>, C<Monitoring::after_fork_parent()> and
C<Monitoring::after_fork_child()> are safe to call next to the automatic handlers.

=head1 THREADS

Perl threads (ithreads) do not share clients: a client or job object is not copied into a new
thread (C<CLONE_SKIP>); create a client per thread if you must. The engine's own threads are
native threads and never run Perl code.

=head1 FUNCTIONS

=over

=item Monitoring::version()

The library's version (C<monitoring_version()>), e.g. C<0.1.0>.

=item Monitoring::abi_version()

The C ABI version the library implements (C<1>). Loading the module fails with a clear message if
it is not the one the module was built for.

=item Monitoring::last_error()

The engine's message for the last call of this thread that failed or was dropped (C<""> after
success), e.g. C<queue full: event dropped> after C<emit> returned false.

=item Monitoring::encode_json($data)

See L</PERL DATA AND JSON>.

=item Monitoring::before_fork(), Monitoring::after_fork_parent(), Monitoring::after_fork_child()

See L</FORK>.

=back

=head1 SEE ALSO

L<Monitoring::Error>; the SDK's F<README.md> (configuration, backends, the sidecar agent) and
F<include/monitoring.h> (the C ABI this module wraps); F<examples/job_fails.pl>.

=head1 LICENSE

Apache License 2.0.

=cut
