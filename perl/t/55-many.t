use strict;
use warnings;
use Test::More;

use lib 't/lib';
use MonTest;
use Monitoring;

# Volume and memory: many emits all arrive; no call leaks (RSS stays flat).
# PERL_MONITORING_LEAK_N=1000000 makes the leak loops longer (default 50,000 emits).

my $N = $ENV{PERL_MONITORING_LEAK_N} || 50_000;

sub rss_mb {
    open my $fh, '<', '/proc/self/statm' or return undef;
    my @f = split ' ', scalar <$fh>;
    return $f[1] * 4096 / 1048576;
}

subtest '20,000 events, all delivered, in order per process' => sub {
    my $dir = workdir();
    my $client = Monitoring->configure(config_json($dir, queue => { capacity => 65536, on_full => 'block' }));
    my $n = 20_000;
    my $refused = 0;
    for my $i (1 .. $n) {
        $client->emit({ event => { kind => 'metric', metrics => { i => $i } } }) or $refused++;
    }
    is($refused, 0, 'none dropped (on_full: block)');
    ok($client->flush(30), 'flush');
    my @events = read_events($dir);
    is(scalar @events, $n, "$n events written");
    is_deeply([map { $_->{event}{metrics}{i} } @events[0, 1, -1]], [1, 2, $n], 'in order');
    my %keys = map { $_->{idempotency_key} => 1 } @events;
    is(scalar keys %keys, $n, 'distinct idempotency keys');
    my $stats = $client->stats;
    is($stats->{emitted}, $n, 'stats: emitted');
    is($stats->{delivered}, $n, 'stats: delivered');
    $client->shutdown(5);
};

SKIP: {
    skip 'no /proc/self/statm', 1 unless defined rss_mb();
    subtest "memory stays flat ($N emits, errors, jobs)" => sub {
        my $dir = workdir();
        # Events go nowhere (the only backend takes heartbeats only): this measures the binding and
        # the engine's validation and queue, not the disk.
        my $client = Monitoring->configure(qq({"direct_backends":[{"type":"filesystem","name":"none","path":"$dir/out","filter":{"kinds":["heartbeat"]}}],"queue":{"capacity":100000,"on_full":"block"},"spool":{"path":"$dir/spool"}}));
        my %event = (entity => { type => 'tool', id => 'ETCH-07' },
            event => { kind => 'metric', metrics => { temp_c => 21.5, wafers => 25 }, metadata => { lot => "LOT-42 \x{263a}" } });
        my $json = '{"event":{"kind":"log","message":"text"}}';
        my $loop = sub {
            my ($what, $count, $code) = @_;
            $code->() for 1 .. $count / 10;    # warm up
            my $before = rss_mb();
            $code->() for 1 .. $count;
            my $growth = rss_mb() - $before;
            cmp_ok($growth, '<', 8, sprintf('%s x %d: RSS %+.1f MB', $what, $count, $growth));
        };
        $loop->('emit(\%event)', $N, sub { $client->emit(\%event) or die 'dropped' });
        $loop->('emit($json)', $N, sub { $client->emit($json) or die 'dropped' });
        $loop->('rejected emit (croak)', $N / 10, sub { eval { $client->emit({ event => { kind => 'nope' } }) } });
        $loop->('encoder refusal (croak)', $N / 10, sub { eval { $client->emit({ event => { x => sub { } } }) } });
        $loop->('job lifecycle', $N / 10, sub {
            my $job = $client->job("etch \x{e4}", entity_type => 'lot');
            $job->metadata(tool => 'ETCH-07');
            $job->progress(50, 'half');
            $job->metric(wafers => 25);
            $job->finish('failed', 'chamber fault');
        });
        $loop->('job dropped unfinished (DESTROY)', $N / 10, sub { my $job = $client->job('dropped') });
        $loop->('stats', $N / 100, sub { $client->stats });
        $client->flush(30);
        $client->shutdown(5);
    };
}

done_testing;
