use strict;
use warnings;
use Test::More;

use lib 't/lib';
use MonTest;
use Monitoring;

# What happens to jobs that are never finished (see "Jobs left unfinished" in the POD).

sub final_of {
    my ($dir, $name) = @_;
    my @events = grep { ($_->{event}{metadata}{job_name} // '') eq $name } read_events($dir);
    return ($events[-1] // {})->{event} // {}, scalar @events;
}

my $dir = workdir();
my $client = Monitoring->configure(config_json($dir));

subtest 'out of scope: canceled' => sub {
    {
        my $job = $client->job('scoped');
        $job->progress(10);
    }
    $client->flush(5);
    my ($final, $n) = final_of($dir, 'scoped');
    is($n, 3, 'started, progress, canceled');
    is($final->{kind}, 'canceled', 'kind canceled');
    is($final->{status}, 'canceled', 'status canceled');
    is($final->{message}, 'the job was not finished (its object went out of scope)', 'says why');
    ok(defined $final->{metrics}{duration_s}, 'with the measured metrics');
};

subtest 'die inside eval: failed with $@' => sub {
    my $ok = eval {
        my $job = $client->job('dies');
        die "chamber pressure out of range\n";
        1;
    };
    ok(!$ok, 'died');
    is($@, "chamber pressure out of range\n", '$@ is left as it was');
    eval { my $job = $client->job('dies-with-location'); die "no newline" };
    like($@, qr/^no newline at /, '$@ intact');
    {
        package My::Fault;
        sub new { bless { code => $_[1] }, $_[0] }
    }
    eval { my $job = $client->job('dies-with-object'); die My::Fault->new(42) };
    isa_ok($@, 'My::Fault', '$@ still the object');
    sub inner { my $job = $client->job('dies-in-sub'); $job->metric(x => 1); die "deep\n" }
    eval { inner() };
    $client->flush(5);
    my ($final) = final_of($dir, 'dies');
    is($final->{kind}, 'error', 'kind error');
    is($final->{status}, 'failed', 'status failed');
    is($final->{message}, 'chamber pressure out of range', 'the message, without the trailing newline');
    ($final) = final_of($dir, 'dies-with-location');
    like($final->{message}, qr/\Ano newline at \S+ line \d+\.\z/, 'die without newline: with its location');
    ($final) = final_of($dir, 'dies-with-object');
    like($final->{message}, qr/\AMy::Fault=HASH\(0x[0-9a-f]+\)\z/, 'an object without overloading');
    is($final->{metadata}{error_type}, 'My::Fault', 'metadata.error_type');
    ($final) = final_of($dir, 'dies-in-sub');
    is($final->{message}, 'deep', 'unwinding through a sub');
    is($final->{metrics}{x}, 1, 'metrics kept');
};

subtest 'an old $@ is not an exception of the job' => sub {
    eval { die "old error\n" };
    is($@, "old error\n", 'a stale $@');
    { my $job = $client->job('stale'); }
    is($@, "old error\n", 'DESTROY left $@ alone');
    $client->flush(5);
    my ($final) = final_of($dir, 'stale');
    is($final->{kind}, 'canceled', 'canceled, not failed');

    # The documented limit of the rule: an error caught inside the job's scope and not cleared.
    { my $job = $client->job('caught-inside'); eval { die "handled\n" }; }
    $client->flush(5);
    ($final) = final_of($dir, 'caught-inside');
    is($final->{kind}, 'error', 'a caught error still in $@ when the job is dropped counts');
    { my $job = $client->job('caught-and-cleared'); eval { die "handled\n" }; $@ = ''; }
    $client->flush(5);
    ($final) = final_of($dir, 'caught-and-cleared');
    is($final->{kind}, 'canceled', '... unless $@ was cleared');
};

subtest 'finished jobs are left alone' => sub {
    eval { my $job = $client->job('done'); $job->finish('succeeded'); die "after finish\n" };
    $client->flush(5);
    my ($final, $n) = final_of($dir, 'done');
    is($n, 2, 'started and finished only');
    is($final->{kind}, 'finished', 'finished');
};

subtest 'the program ends with jobs open' => sub {
    my $d = workdir();
    # Each script starts with: use Monitoring; my $client = Monitoring->configure(CONFIG);
    my @cases = (
        ['uncaught die', q{my $job = $client->job('job'); die "fatal: no wafer\n";}, 'nonzero', 'error', 'fatal: no wafer'],
        ['die in a sub', q{sub work { my $job = $client->job('job'); open my $fh, '<', '/nonexistent/x' or die "cannot open: nonexistent\n" } work();}, undef, 'error', 'cannot open: nonexistent'],
        ['exit', q{my $job = $client->job('job'); exit 3;}, 3, 'canceled', undef],
        ['end of program, global job', q{our $job = $client->job('job'); 1;}, 0, 'canceled', 'the program ended before the job finished'],
        ['global client, lexical job', q{our $c2 = $client; my $job = $client->job('job'); $job->progress(1);}, 0, 'canceled', undef],
        ['client dropped first', q{my $job = $client->job('job'); undef $client; $job->metric(n => 1);}, 0, 'canceled', undef],
        ['a __DIE__ handler set before loading Monitoring is chained',
            q{my $job = $client->job('job'); die "with hook\n";}, 'nonzero', 'error', 'with hook',
            q{BEGIN { $SIG{__DIE__} = sub { print STDERR "hook: $_[0]" } }}],
        ['a __DIE__ handler set after loading Monitoring replaces the hook: canceled',
            q{$SIG{__DIE__} = sub { print STDERR "hook: $_[0]" }; my $job = $client->job('job'); die "with hook\n";}, 'nonzero', 'canceled', undef],
    );
    my $n = 0;
    for my $case (@cases) {
        my ($what, $code, $rc, $kind, $message, $before) = @$case;
        my $sub = "$d/case" . $n++;
        mkdir $sub or die;
        my $cfg = config_json($sub);
        my $script = ($before // '') . " use Monitoring; my \$client = Monitoring->configure(q{$cfg}); $code";
        my ($status, $out) = run_perl($sub, $script);
        if (defined $rc && $rc eq 'nonzero') {
            isnt($status >> 8, 0, "$what: exit status not 0");
        } elsif (defined $rc) {
            is($status >> 8, $rc, "$what: exit status $rc");
        }
        like($out, qr/hook: with hook/, "$what: the user's handler ran") if $what =~ /__DIE__/;
        my @events = read_events($sub);
        is_deeply([map { $_->{event}{kind} } grep { $_->{event}{kind} =~ /started|error|canceled|finished/ } @events],
            ['started', $kind], "$what: started, then $kind") or diag $out;
        is($events[-1]{event}{message}, $message, "$what: message") if defined $message;
    }
};

done_testing;
