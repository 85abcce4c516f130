#!/usr/bin/env perl
# job_fails.pl - a job that fails, reported from Perl; then the events it wrote.
#
# A lot (the parent job) runs one step, "etch", which dies half way with a chamber fault. The
# step is never finished by hand: it dies inside an eval, and Monitoring finishes it as it goes
# out of scope, as `failed` (kind "error") with the exception's message. The lot is then
# canceled. The same events as the C example (examples/c/job_demo.c):
#
#   lot   started            step  started, progress x4, metric x2, error "chamber pressure ..."
#   lot   canceled "step etch failed"
#
# No configuration: the environment and the defaults, so the events go to JSONL files under
# ./monitoring-events (set MONITORING_CONFIG=monitoring.yaml, or MONITORING_APP_NAME and
# friends, to change that). Run:  perl job_fails.pl   (after installing the Monitoring
# distribution, or with -Mblib=path/to/the/built/distribution)
use strict;
use warnings;

use JSON::PP ();
use Time::HiRes qw(sleep);

use Monitoring;

# 1. One client per process. undef = environment + defaults.
my $client = Monitoring->configure(undef);

# 2. The parent job: entity type "lot". Metadata goes on every later event of the job.
my $lot = $client->job('LOT-42', entity_type => 'lot');
$lot->metadata(recipe => 'ETCH-STD-7');

# 3. The step, a child of the lot. It dies; nothing here finishes it.
my $ok = eval {
    my $step = $client->job('etch', entity_type => 'step', parent => $lot);
    $step->metadata(tool => 'ETCH-07');
    printf "lot  job id: %s\nstep job id: %s\n", $lot->id, $step->id;
    for my $wafer (1 .. 4) {
        sleep 0.05;    # ... etch one wafer ...
        $step->progress($wafer * 100 / 8, "wafer $wafer of 8 etched");
    }
    $step->metric(wafers_etched => 4, chamber_pressure_mtorr => 812.5);

    # Invalid input is refused with a clear message (a Monitoring::Error), and nothing is sent:
    eval { $step->progress(150, 'too far') };
    print "rejected as expected: ", $@->message, "\n";

    die "chamber pressure out of range\n";
    # $step goes out of scope here, unfinished, while the exception propagates: Monitoring
    # finishes it as failed, with the message "chamber pressure out of range".
};
print "the step died: $@" unless $ok;

# 4. The lot cannot go on without the step.
$lot->finish('canceled', 'step etch failed');

# 5. Wait for delivery (5 s at most), then stop the engine's threads.
$client->flush(5);
$client->shutdown(5);

# What was written: this process's file(s) under ./monitoring-events.
my @files = sort glob("monitoring-events/events-$$-*.jsonl");
unless (@files) {
    print "no events under ./monitoring-events (MONITORING_CONFIG or another configuration sent them elsewhere)\n";
    exit 0;
}
my $json = JSON::PP->new->utf8->canonical->pretty;
my @events;
for my $file (@files) {
    open my $fh, '<:raw', $file or die "$file: $!";
    push @events, map { $json->decode($_) } <$fh>;
}
print "\nevents written to ", join(', ', @files), ":\n";
for my $e (@events) {
    my ($ev, $ent) = ($e->{event}, $e->{entity});
    my $extra = '';
    $extra .= " progress=$ev->{progress}" if defined $ev->{progress};
    $extra .= " message='$ev->{message}'" if defined $ev->{message};
    $extra .= ' metrics=' . JSON::PP->new->canonical->encode($ev->{metrics}) if %{ $ev->{metrics} };
    printf "%s  %-9s %-10s %s:%s...%s\n", $ev->{at}, $ev->{kind}, $ev->{status} // 'null',
      $ent->{type}, substr($ent->{id}, 0, 13), $extra;
}
my ($error) = grep { $_->{event}{kind} eq 'error' } @events;
print "\n", scalar(@events), " events. The step's error event in full:\n", $json->encode($error);
