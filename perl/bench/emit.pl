#!/usr/bin/env perl
# One timed run of one variant, for perl/bench/run.sh (which runs every variant several times,
# interleaved, and writes bench/results/perl.md).
#
#     emit.pl VARIANT N DIR
#
# VARIANT   sdk_hash      $client->emit(\%event)           (the binding encodes, the engine validates)
#           sdk_json      $client->emit($json)             (a ready JSON string)
#           sdk_job       job(), progress, metric, finish  (4 events per call; N = lifecycles)
#           jsonxs_print  print $fh JSON::XS->encode(\%complete_event), "\n"
#           jsonxs_encode JSON::XS->encode(\%complete_event) only (no I/O), for the split
# Prints one line of JSON: calls, events, seconds of the call loop, seconds until delivered
# (SDK: flush returned; print: close returned), bytes written, peak RSS.
use strict;
use warnings;

use JSON::XS ();
use POSIX ();
use Time::HiRes qw(time gettimeofday);

my ($variant, $n, $dir) = @ARGV;
die "usage: emit.pl VARIANT N DIR\n" unless $variant && $n && $dir;
mkdir $dir;

# The event every variant reports (the C benchmark's event).
my %event = (
    entity => { type => 'tool', id => 'ETCH-07' },
    event  => { kind => 'metric', metrics => { temp_c => 21.5, pressure_pa => 101325.0 }, metadata => { lot => 'LOT-42' } },
);

sub maxrss_kb {
    open my $fh, '<', '/proc/self/status' or return 0;
    while (<$fh>) { return $1 if /^VmHWM:\s+(\d+)/ }
    return 0;
}

sub bytes_in {
    my $total = 0;
    $total += -s $_ for glob("$dir/*.jsonl");
    return $total;
}

my ($t0, $t1, $t2, $events);
if ($variant =~ /^sdk_/) {
    require Monitoring;
    my $client = Monitoring->configure({
        app             => { name => 'bench', version => '1.0.0', site_id => 'fab1', instance_id => 'bench-host' },
        direct_backends => [{ type => 'filesystem', name => 'bench', path => $dir, fsync => 'never', rotate_mb => 1024 }],
        queue           => { capacity => 262144, on_full => 'block', batch_max => 512, flush_interval_ms => 100 },
    });
    my $json = Monitoring::encode_json(\%event);
    # warm up (not timed, not counted in the file: written before the timed part, subtracted below)
    $client->emit(\%event) for 1 .. 2000;
    $client->flush(30);
    my $warm = bytes_in();
    if ($variant eq 'sdk_hash') {
        $t0 = time;
        for (1 .. $n) { $client->emit(\%event) or die "dropped" }
        $t1 = time;
        $events = $n;
    } elsif ($variant eq 'sdk_json') {
        $t0 = time;
        for (1 .. $n) { $client->emit($json) or die "dropped" }
        $t1 = time;
        $events = $n;
    } elsif ($variant eq 'sdk_job') {
        $t0 = time;
        for (1 .. $n) {
            my $job = $client->job('etch', entity_type => 'lot');
            $job->progress(50, 'half way');
            $job->metric(wafers => 25);
            $job->finish('succeeded');
        }
        $t1 = time;
        $events = 4 * $n;
    } else {
        die "unknown variant $variant\n";
    }
    $client->flush(120) or die "flush";
    $t2 = time;
    my $stats = $client->stats;
    die "not everything delivered: " . JSON::XS->new->encode($stats) . "\n" if $stats->{delivered} != $events + 2000;
    $client->shutdown(10);
    print JSON::XS->new->canonical->encode({ variant => $variant, calls => $n, events => $events,
        loop_s => $t1 - $t0, delivered_s => $t2 - $t0, bytes => bytes_in() - $warm, maxrss_kb => maxrss_kb() }), "\n";
    exit 0;
}

# The alternative: the complete event, built and written by the application itself.
my $coder = JSON::XS->new;
my %complete = (
    idempotency_key => undef,
    site_id         => 'fab1',
    app             => { name => 'bench', version => '1.0.0', instance_id => 'bench-host' },
    entity          => { type => 'tool', id => 'ETCH-07', parent_id => undef, business_key => undef, sub_key => undef },
    event           => {
        kind => 'metric', at => undef, status => undef, progress => undef, message => undef,
        metrics => { temp_c => 21.5, pressure_pa => 101325.0 }, metadata => { lot => 'LOT-42' },
    },
);
my ($cached_sec, $cached_prefix, $counter) = (-1, '', 0);
my $fill = sub {    # a fresh UUIDv7-shaped key and an RFC 3339 UTC microsecond time, per event
    my ($sec, $usec) = gettimeofday();
    if ($sec != $cached_sec) {
        $cached_sec    = $sec;
        $cached_prefix = POSIX::strftime('%Y-%m-%dT%H:%M:%S', gmtime $sec);
    }
    my $ms = $sec * 1000 + int($usec / 1000);
    $counter++;
    $complete{idempotency_key} = sprintf('%08x-%04x-7%03x-%04x-%012x',
        $ms >> 16, $ms & 0xffff, $counter & 0xfff, 0x8000 | ($counter >> 12 & 0x3fff), $counter);
    $complete{event}{at} = sprintf('%s.%06dZ', $cached_prefix, $usec);
};
if ($variant eq 'jsonxs_print') {
    open my $fh, '>>', "$dir/events-alt.jsonl" or die "$dir: $!";
    for (1 .. 2000) { $fill->(); print {$fh} $coder->encode(\%complete), "\n" }
    $fh->flush;
    my $warm = -s "$dir/events-alt.jsonl";
    $t0 = time;
    for (1 .. $n) {
        $fill->();
        print {$fh} $coder->encode(\%complete), "\n";
    }
    $t1 = time;
    close $fh or die "close: $!";
    $t2 = time;
    print JSON::XS->new->canonical->encode({ variant => $variant, calls => $n, events => $n,
        loop_s => $t1 - $t0, delivered_s => $t2 - $t0, bytes => bytes_in() - $warm, maxrss_kb => maxrss_kb() }), "\n";
} elsif ($variant eq 'jsonxs_encode') {
    my $sink = 0;
    $t0 = time;
    for (1 .. $n) {
        $fill->();
        $sink += length $coder->encode(\%complete);
    }
    $t1 = time;
    print JSON::XS->new->canonical->encode({ variant => $variant, calls => $n, events => $n,
        loop_s => $t1 - $t0, delivered_s => $t1 - $t0, bytes => $sink, maxrss_kb => maxrss_kb() }), "\n";
} else {
    die "unknown variant $variant\n";
}
