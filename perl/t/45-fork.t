use strict;
use warnings;
use Test::More;
use POSIX ();

use lib 't/lib';
use MonTest;
use Monitoring;

# Monitoring registers pthread_atfork handlers when it is loaded: a forked child gets its own
# engine threads (started at its first call) and its own JSONL file, and flushes at exit.

my $dir = workdir();
my $client = Monitoring->configure(config_json($dir, instance_id => undef));
my $parent_job = $client->job('parent-job');
ok($client->emit({ event => { kind => 'log', message => 'parent before fork' } }), 'parent emits');
ok($client->flush(5), 'and flushes (its file exists before the children start)');

sub child (&) {
    my ($code) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        my $ok = eval { $code->(); 1 };
        print STDERR "child $$: $@" unless $ok;
        exit($ok ? 0 : 1);
    }
    return $pid;
}

subtest 'children emit and exit; their events arrive' => sub {
    my @pids;
    for my $n (1 .. 4) {
        push @pids, child {
            for my $i (1 .. 10) {
                $client->emit({ event => { kind => 'log', message => "child $n event $i" } }) or die "dropped";
            }
            my $job = $client->job("child-$n-job", parent => $parent_job);
            $job->progress(50);
            $job->finish('succeeded');
            # no flush: exiting frees the client, which delivers what is queued
        };
    }
    for my $pid (@pids) {
        waitpid($pid, 0);
        is($?, 0, "child $pid exited 0");
    }
    my %by_pid;
    for my $e (read_events($dir)) {
        my ($pid) = $e->{app}{instance_id} =~ /:(\d+)\z/;
        push @{ $by_pid{$pid} }, $e;
    }
    for my $pid (@pids) {
        my @events = @{ $by_pid{$pid} || [] };
        is(scalar @events, 13, "child $pid: 10 events + its job (started, progress, finished)");
        my @jobs = grep { $_->{entity}{type} eq 'job' } @events;
        is($jobs[0]{entity}{parent_id}, $parent_job->id, 'parent id from the inherited job');
    }
    my @files = glob("$dir/out/*.jsonl");
    is(scalar @files, 5, 'one file per process (the parent\'s is there already)');
};

subtest 'the parent still works, its open job was not touched by the children' => sub {
    ok($client->emit({ event => { kind => 'log', message => 'parent after fork' } }), 'parent emits');
    ok($parent_job->progress(99), 'parent job progress');
    $parent_job->finish('succeeded');
    $client->flush(5);
    my @mine = grep { $_->{app}{instance_id} =~ /:$$\z/ } read_events($dir);
    is(scalar @mine, 5, 'parent: 2 logs + its job (started, progress, finished)');
    my @final = grep { $_->{entity}{id} eq $parent_job->id && $_->{event}{kind} =~ /finished|canceled|error/ } read_events($dir);
    is(scalar @final, 1, 'exactly one final event for the parent\'s job');
    is($final[0]{event}{kind}, 'finished', '... from the parent');
};

subtest 'a child that does not use Monitoring starts nothing' => sub {
    my $before = () = glob("$dir/out/*.jsonl");
    SKIP: {
        skip 'no /proc/self/task', 1 unless -d '/proc/self/task';
        my @parent_threads = glob('/proc/self/task/*');
        cmp_ok(scalar @parent_threads, '>', 1, 'the parent runs the engine\'s threads');
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my @tasks = glob("/proc/$$/task/*");
            POSIX::_exit(scalar @tasks);    # exit status = the number of threads
        }
        waitpid($pid, 0);
        is($? >> 8, 1, 'the child has one thread: the engine was not restarted (that waits for a call)');
    }
    my $pid = child { 1 };
    waitpid($pid, 0);
    is($?, 0, 'a child that exits normally without calling the module exits 0');
    my $after = () = glob("$dir/out/*.jsonl");
    is($after, $before, 'no file for it');
    is(system($^X, '-e', 'exit 7') >> 8, 7, 'system() works');
    my $out = `$^X -e "print 42"`;
    is($out, '42', 'backticks work');
};

subtest 'nested forks, _exit after flush, a new client in the child' => sub {
    my $d = workdir();
    my $pid = child {
        $client->emit({ event => { kind => 'log', message => 'child' } }) or die;
        my $grand = child {
            $client->emit({ event => { kind => 'log', message => 'grandchild' } }) or die;
        };
        waitpid($grand, 0);
        die "grandchild failed" if $?;
        my $own = Monitoring->configure(config_json($d,
            direct_backends => [{ type => 'filesystem', name => 'own', path => "$d/out" }]));
        $own->emit({ event => { kind => 'log', message => 'own client' } }) or die;
    };
    waitpid($pid, 0);
    is($?, 0, 'child and grandchild exited 0');
    my $pid2 = child {
        $client->emit({ event => { kind => 'log', message => 'before _exit' } }) or die;
        $client->flush(5);
        POSIX::_exit(0);
    };
    waitpid($pid2, 0);
    my @messages = sort map { $_->{event}{message} // '' } grep { $_->{event}{kind} eq 'log' } read_events($dir);
    ok((grep { $_ eq 'child' } @messages), 'child');
    ok((grep { $_ eq 'grandchild' } @messages), 'grandchild');
    ok((grep { $_ eq 'before _exit' } @messages), 'flushed before _exit');
    my @own = read_events($d);
    is($own[0]{event}{message}, 'own client', 'a client created in the child');
};

subtest 'manual hooks are harmless next to the automatic ones' => sub {
    Monitoring::before_fork();
    my $pid = fork // die;
    if (!$pid) {
        Monitoring::after_fork_child();
        $client->emit({ event => { kind => 'log', message => 'manual hooks' } }) or POSIX::_exit(1);
        exit 0;
    }
    Monitoring::after_fork_parent();
    waitpid($pid, 0);
    is($?, 0, 'child exited 0');
    ok($client->emit({ event => { kind => 'log' } }), 'parent fine');
    ok((grep { ($_->{event}{message} // '') eq 'manual hooks' } read_events($dir)), 'child event arrived');
};

subtest 'a new client in a child, with a backend of the same name and spool as an inherited one' => sub {
    # (Once a known failure: both clients wanted the spool directory NAME.PID. A second spool of
    # the same backend in one process now takes NAME.PID.N.)
    my $d = workdir();
    my $pid = child {
        $client->emit({ event => { kind => 'log', message => 'inherited, same name' } }) or die;
        # backend `local` and the spool directory, as $client's
        my $own = Monitoring->configure(config_json($d, spool => { path => "$dir/spool" }));
        $own->emit({ event => { kind => 'log', message => 'own, same name' } }) or die;
    };
    waitpid($pid, 0);
    is($?, 0, 'the child exited 0');
    my @own = read_events($d);
    is(scalar @own, 1, 'the new client delivered');
};

$client->shutdown(5);
done_testing;
