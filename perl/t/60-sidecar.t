use strict;
use warnings;
use Test::More;
use Cwd ();
use HTTP::Tiny;
use Time::HiRes qw(sleep time);

use lib 't/lib';
use MonTest;
use Monitoring;

# Sidecar mode against a real agent: the client posts to monitoring-sidecar over HTTP, the agent
# writes the events with its own filesystem backend.

my $root = repo_root();
my $bin  = $ENV{PERL_MONITORING_SIDECAR} || ($root ? "$root/target/release/monitoring-sidecar" : undef);
if (!$bin || !-x $bin) {
    plan skip_all => 'no monitoring-sidecar binary, and no source tree to build it from (set PERL_MONITORING_SIDECAR)'
      unless $root;
    plan skip_all => "the monitoring-sidecar crate does not exist ($root/sidecar/Cargo.toml): nothing to test against"
      unless -f "$root/sidecar/Cargo.toml";
    diag("building monitoring-sidecar: cargo build --release -p monitoring-sidecar");
    system("cd '$root' && cargo build --release -q -p monitoring-sidecar") == 0 && -x $bin
      or BAIL_OUT("cargo build --release -p monitoring-sidecar failed");
}

my $dir = workdir();
my $cwd = Cwd::getcwd();
chdir $dir or die;    # anything relative (a default ./monitoring-spool) lands here

open my $cfg, '>', "$dir/agent.yaml" or die;
print {$cfg} <<"EOT";
ingest: {listen: "127.0.0.1:0", token: s3cret, flush_interval: 50}
backends:
  - {type: filesystem, name: agent, path: $dir/out}
spool: {path: $dir/agent-spool}
EOT
close $cfg;

my $agent = fork // die "fork: $!";
if (!$agent) {
    open STDERR, '>', "$dir/agent.log" or die;
    exec $bin, '--config', "$dir/agent.yaml" or die "exec $bin: $!";
}
my $port;
my $deadline = time + 20;
while (!$port && time < $deadline) {
    ($port) = (-f "$dir/agent.log" ? slurp("$dir/agent.log") : '') =~ /"listen":"127\.0\.0\.1:(\d+)"/;
    sleep 0.05 unless $port;
}
if (!$port) {
    kill 'KILL', $agent;
    BAIL_OUT("monitoring-sidecar did not start: " . (-f "$dir/agent.log" ? slurp("$dir/agent.log") : 'no log'));
}
note("agent pid $agent listening on 127.0.0.1:$port");
my $url = "http://127.0.0.1:$port";

END {
    if ($agent) {
        kill 'TERM', $agent;
        waitpid($agent, 0);
    }
}

my $client = Monitoring->configure({
    mode    => 'sidecar',
    app     => { name => 'wafer-etch', version => '1.4.2', site_id => 'fab1', instance_id => 'host-a:4242' },
    sidecar => { url => $url, token => 's3cret', timeout_ms => 5000 },
    queue   => { flush_interval_ms => 20 },
    spool   => { path => "$dir/client-spool" },
});

ok($client->emit({ entity => { type => 'tool', id => 'ETCH-07' }, event => { kind => 'metric', metrics => { temp_c => 21.5 } } }), 'emit');
my $job = $client->job('etch', entity_type => 'lot');
$job->progress(50, 'half');
$job->metric(wafers => 25);
$job->finish('succeeded');
my $failed_id;
eval { my $j = $client->job('fails'); $failed_id = $j->id; die "chamber fault\n" };
ok($client->flush(10), 'flush: delivered to the agent');
my $stats = $client->stats;
is($stats->{delivered}, 7, 'stats: 7 delivered');
is($stats->{backends}{sidecar}{delivered}, 7, 'by the sidecar backend');

my @events = wait_for_events($dir, 7, 10);
is(scalar @events, 7, 'the agent wrote 7 events');
my %kinds;
$kinds{ $_->{event}{kind} }++ for @events;
is_deeply(\%kinds, { metric => 2, started => 2, progress => 1, finished => 1, error => 1 }, 'the kinds');
my ($metric) = grep { $_->{entity}{id} eq 'ETCH-07' } @events;
is($metric->{event}{metrics}{temp_c}, 21.5, 'values intact');
is($metric->{app}{name}, 'wafer-etch', 'enriched by the client');
my ($error) = grep { $_->{event}{kind} eq 'error' } @events;
is($error->{entity}{id}, $failed_id, 'the job that died');
is($error->{event}{message}, 'chamber fault', 'with the exception message');

my $health = HTTP::Tiny->new(timeout => 5)->get("$url/health");
is($health->{status}, 200, 'agent /health: 200');
like($health->{content}, qr/"status":"healthy"/, 'healthy');

subtest 'a wrong token: refused by the agent, dead-lettered by the client' => sub {
    my $bad = Monitoring->configure({ mode => 'sidecar', sidecar => { url => $url, token => 'wrong' },
        spool => { path => "$dir/bad-spool" } });
    ok($bad->emit({ event => { kind => 'log', message => 'wrong token' } }), 'emit (queued)');
    $bad->flush(10);
    my $s = $bad->stats;
    is($s->{delivered}, 0, 'nothing delivered');
    is($s->{backends}{sidecar}{dead_lettered}, 1, 'dead-lettered');
    ok(-s "$dir/bad-spool/dead-letter/sidecar.jsonl", 'in the dead-letter file');
    $bad->shutdown(5);
    sleep 0.2;
    ok(!(grep { ($_->{event}{message} // '') eq 'wrong token' } read_events($dir)), 'the agent did not take it');
};

$client->shutdown(5);
chdir $cwd;
done_testing;
