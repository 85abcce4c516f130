package MonTest;
# Helpers for the Monitoring test suite: a hermetic environment, a temporary events directory
# with a filesystem backend, reading the events back, running Perl in a child process.
use strict;
use warnings;

use Exporter 'import';
use Cwd ();
use File::Spec;
use File::Temp ();
use JSON::PP ();

our @EXPORT = qw(workdir config_json read_events events_of_kind wait_for_events repo_root
  run_perl perl_inc slurp);

# No MONITORING_* variable of the caller changes what the tests see.
BEGIN {
    delete $ENV{$_} for grep {/^MONITORING_/} keys %ENV;
}

my $JSON = JSON::PP->new->utf8->canonical;

# A fresh directory, removed at exit (set KEEP_TMP=1 to keep it), with out/ for the events.
sub workdir {
    my $dir = File::Temp::tempdir('monitoring-t-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{KEEP_TMP});
    return Cwd::realpath($dir);
}

# The standard test configuration as inline JSON text: app wafer-etch/1.4.2, site fab1, instance
# host-a:4242 (unless `instance_id => undef`), one filesystem backend writing to DIR/out, the
# spool under DIR/spool; other top-level keys from %over.
sub config_json {
    my ($dir, %over) = @_;
    my $app = { name => 'wafer-etch', version => '1.4.2', site_id => 'fab1', instance_id => 'host-a:4242' };
    if (exists $over{instance_id}) {
        my $id = delete $over{instance_id};
        defined $id ? ($app->{instance_id} = $id) : delete $app->{instance_id};
    }
    my $config = {
        mode            => 'direct',
        app             => $app,
        direct_backends => [{ type => 'filesystem', name => 'local', path => "$dir/out" }],
        queue           => { flush_interval_ms => 50 },
        spool           => { path => "$dir/spool" },
        %over,
    };
    return $JSON->encode($config);
}

# Every event under DIR/out (*.jsonl, files in name order), decoded.
sub read_events {
    my ($dir) = @_;
    my @events;
    for my $file (sort glob("$dir/out/*.jsonl")) {
        open my $fh, '<:raw', $file or die "$file: $!";
        while (my $line = <$fh>) {
            push @events, $JSON->decode($line);
        }
    }
    return @events;
}

sub events_of_kind {
    my ($kind, @events) = @_;
    return grep { $_->{event}{kind} eq $kind } @events;
}

# Polls read_events until $count events are there (or $seconds pass); returns them.
sub wait_for_events {
    my ($dir, $count, $seconds) = @_;
    my $deadline = time + ($seconds // 10);
    my @events;
    while (1) {
        @events = read_events($dir);
        return @events if @events >= $count || time > $deadline;
        select undef, undef, undef, 0.05;
    }
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<:raw', $file or die "$file: $!";
    local $/;
    return scalar <$fh>;
}

# The source tree this distribution belongs to, or undef (a standalone copy of the distribution).
sub repo_root {
    for my $root ($ENV{PERL_MONITORING_ROOT}, File::Spec->catdir(Cwd::getcwd(), File::Spec->updir)) {
        next unless defined $root;
        return Cwd::realpath($root) if -f "$root/tests/conformance/run.sh" && -f "$root/include/monitoring.h";
    }
    return undef;
}

# -I switches for a child perl: this process's @INC, absolute (so blib/ is found from anywhere).
sub perl_inc {
    return map { '-I' . File::Spec->rel2abs($_) } grep { !ref } @INC;
}

# Runs `perl -e CODE ARGS...` in DIR; returns (exit status, stdout+stderr).
sub run_perl {
    my ($dir, $code, @args) = @_;
    my $script = "$dir/script-$$-" . int(rand(1e9)) . '.pl';
    open my $fh, '>:raw', $script or die "$script: $!";
    print {$fh} "BEGIN { open STDERR, '>&', \\*STDOUT or die; \$| = 1 }\n", $code;
    close $fh;
    my $cwd = Cwd::getcwd();
    chdir $dir or die "chdir $dir: $!";
    my $out = do {
        open my $p, '-|', $^X, perl_inc(), $script, @args or die "cannot run $^X: $!";
        local $/;
        my $text = <$p> // '';
        close $p;
        $text;
    };
    my $status = $?;
    chdir $cwd or die "chdir $cwd: $!";
    return ($status, $out);
}

1;
