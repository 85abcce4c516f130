#!/usr/bin/env perl
# Conformance driver for the Perl distribution (`use Monitoring;`).
#
#     driver.pl SCENARIO.json OUT_DIR RESULTS.jsonl
#
# Replays a scenario's steps through the public Perl API and records one JSON line per call. It
# judges nothing: tests/conformance/check.py does. See ../README.md. `event` steps are passed as
# hashrefs (so the binding's own Perl-to-JSON encoding is tested), `event_json` as a character
# string, `event_hex` as a byte string. A Monitoring::Error carries its status name (->status) and
# the engine's message (->message); emit and the job calls return false for an event dropped at
# a full queue (status `queue_full`, message Monitoring::last_error()).
#
# Run by tests/conformance/run.sh with Monitoring on @INC (perl -Iblib/lib -Iblib/arch).
use strict;
use warnings;

use JSON::PP ();
use Scalar::Util qw(blessed);
use Time::HiRes ();

use Monitoring;

my $INF = 9**9**9;
my %NUMBERS = (NaN => $INF - $INF, Infinity => $INF, '-Infinity' => -$INF);

@ARGV == 3 or die "usage: driver.pl SCENARIO.json OUT_DIR RESULTS.jsonl\n";
my ($scenario_path, $out_dir, $results_path) = @ARGV;

my $scenario = do {
    open my $fh, '<:raw', $scenario_path or die "driver: cannot read $scenario_path: $!\n";
    local $/;
    JSON::PP->new->utf8->decode(<$fh>);
};
if (-d $out_dir) {
    opendir my $dh, $out_dir or die "driver: $out_dir: $!\n";
    my @entries = grep { !/\A\.\.?\z/ } readdir $dh;
    die "driver: OUT_DIR is not empty: $out_dir\n" if @entries;
} else {
    mkdir $out_dir or die "driver: cannot create $out_dir: $!\n";
}

open my $results, '>:raw', $results_path or die "driver: cannot write $results_path: $!\n";
$results->autoflush(1);
my $out_json = JSON::PP->new->utf8->canonical;

sub record {
    my ($step, $op, $status, $error, %value) = @_;
    print {$results} $out_json->encode({ step => $step, op => $op, status => $status, error => $error // '', %value }), "\n"
      or die "driver: cannot write results: $!\n";
}

# Runs $fn; records ok (with value => $value->(result) if given), queue_full for a false result,
# or the status the exception carries.
sub call {
    my ($step, $op, $fn, $value) = @_;
    my $result;
    my $ok = eval { $result = $fn->(); 1 };
    if (!$ok) {
        my $e = $@;
        if (blessed $e && $e->isa('Monitoring::Error')) {
            record($step, $op, $e->status, $e->message);
        } else {
            (my $text = "$e") =~ s/\s+\z//;
            record($step, $op, 'driver_error', "not a Monitoring::Error: $text");
        }
        return undef;
    }
    if (!$result) {
        record($step, $op, 'queue_full', Monitoring::last_error() || 'queue full: event dropped');
    } elsif ($value) {
        record($step, $op, 'ok', '', value => $value->($result));
    } else {
        record($step, $op, 'ok', '');
    }
    return $result;
}

sub num {
    my ($v) = @_;
    return exists $NUMBERS{$v} ? $NUMBERS{$v} : $v if defined $v && !ref $v;
    return $v;
}

# The config object as compact JSON text (inline JSON: it starts with '{'), ${OUT_DIR} replaced.
my $config = JSON::PP->new->encode($scenario->{config});
$config =~ s/\$\{OUT_DIR\}/$out_dir/g;
my $client = call('configure', 'configure', sub { Monitoring->configure($config) });
exit 0 unless $client;

my (%jobs, @abandoned);
my $i = 0;
for my $step (@{ $scenario->{steps} || [] }) {
    run_step($i++, $step);
}
call('final_flush',    'flush',    sub { $client->flush(10) });
call('final_shutdown', 'shutdown', sub { $client->shutdown(10) });
# Unfinished jobs are abandoned: the client is shut down, so their DESTROY emits nothing.
push @abandoned, values %jobs;
exit 0;

sub run_step {
    my ($i, $step) = @_;
    my $op      = $step->{op} // '?';
    my $timeout = ($step->{timeout_ms} // 5000) / 1000;
    if ($op eq 'emit') {
        my $event = exists $step->{event}     ? $step->{event}
                  : exists $step->{event_hex} ? pack('H*', $step->{event_hex})
                  :                             $step->{event_json};
        call($i, $op, sub { $client->emit($event) });
    } elsif ($op eq 'flush') {
        call($i, $op, sub { $client->flush($timeout) });
    } elsif ($op eq 'shutdown') {
        call($i, $op, sub { $client->shutdown($timeout) });
    } elsif ($op eq 'stats') {
        call($i, $op, sub { $client->stats }, sub { $_[0] });
    } elsif ($op eq 'sleep') {
        Time::HiRes::sleep($step->{ms} / 1000);
        record($i, $op, 'ok', '');
    } elsif ($op eq 'job_start') {
        my $label     = $step->{job};
        my $parent_id = $step->{parent_id};
        if (defined $step->{parent}) {
            my $parent = $jobs{ $step->{parent} }
              or return record($i, $op, 'driver_error', 'unknown parent job');
            $parent_id = $parent->id;
        }
        return record($i, $op, 'driver_error', 'job label already open') if $jobs{$label};
        my $job = call($i, $op,
            sub { $client->job($step->{name}, entity_type => $step->{entity_type}, parent_id => $parent_id) },
            sub { $_[0]->id });
        $jobs{$label} = $job if $job;
    } else {
        my $job = $jobs{ $step->{job} // '' }
          or return record($i, $op, 'driver_error', 'unknown job label (start failed?)');
        if ($op eq 'job_progress') {
            call($i, $op, sub { $job->progress(num($step->{percent}), $step->{message}) });
        } elsif ($op eq 'job_metric') {
            call($i, $op, sub { $job->metric($step->{name} => num($step->{value})) });
        } elsif ($op eq 'job_metadata') {
            call($i, $op, sub { $job->metadata($step->{key} => $step->{value}) });
        } elsif ($op eq 'job_finish') {
            # Forget the label whatever the result (the handle is freed), as the C driver does.
            push @abandoned, delete $jobs{ $step->{job} };
            call($i, $op, sub { $job->finish($step->{status}, $step->{message}) });
        } else {
            record($i, $op, 'driver_error', "unknown op `$op`");
        }
    }
}
