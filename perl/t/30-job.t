use strict;
use warnings;
use utf8;
use Test::More;

use lib 't/lib';
use MonTest;
use Monitoring;

my $UUID7 = qr/\A[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\z/;

sub of_job {
    my ($id, @events) = @_;
    return grep { $_->{entity}{id} eq $id } @events;
}

subtest 'a job from start to finish' => sub {
    my $dir = workdir();
    my $client = Monitoring->configure(config_json($dir));
    my $lot = $client->job('LOT-42', entity_type => 'lot');
    isa_ok($lot, 'Monitoring::Job');
    like($lot->id, $UUID7, 'id is a UUIDv7');
    is($lot->name, 'LOT-42', 'name');
    ok(!$lot->is_finished, 'open');
    my $step = $client->job('etch', entity_type => 'step', parent => $lot);
    my $other = $client->job('other', parent_id => $lot->id);
    ok($step->metadata(tool => 'ETCH-07', recipe => 'STD-7'), 'metadata (pairs)');
    ok($step->progress(50, 'half way'), 'progress');
    ok($step->progress(75), 'progress without a message');
    ok($step->metric(wafers => 25, 'chamber_pressure_mtorr' => 812.5), 'metric (pairs)');
    ok($step->metric(wafers => 26), 'metric again');
    ok($step->finish('failed', 'chamber pressure out of range'), 'finish failed');
    ok($step->is_finished, 'finished');
    like($step->id, $UUID7, 'id still there after finish');
    ok($other->finish('canceled'), 'finish canceled, no message');
    ok($lot->finish, 'finish (succeeded by default)');
    $client->flush(5);
    my @events = read_events($dir);
    my @step = of_job($step->id, @events);
    is_deeply([map { $_->{event}{kind} } @step], [qw(started progress progress metric metric metric error)], 'step events in order (one metric event per pair)');
    is($step[0]{entity}{type}, 'step', 'entity type');
    is($step[0]{entity}{parent_id}, $lot->id, 'parent from a job object');
    is($step[0]{event}{status}, 'running', 'started is running');
    is_deeply($step[0]{event}{metadata}, { job_name => 'etch' }, 'metadata only from when it was added');
    is_deeply($step[1]{event}{metadata}, { job_name => 'etch', tool => 'ETCH-07', recipe => 'STD-7' }, 'metadata carried');
    is($step[1]{event}{progress}, 50, 'progress');
    is($step[1]{event}{message}, 'half way', 'message');
    is($step[2]{event}{message}, undef, 'no message: null');
    is_deeply($step[3]{event}{metrics}, { wafers => 25 }, 'one metric per event');
    my $final = $step[-1]{event};
    is($final->{status}, 'failed', 'failed -> kind error, status failed');
    is($final->{message}, 'chamber pressure out of range', 'message');
    is($final->{metrics}{wafers}, 26, 'last value of each metric');
    is($final->{metrics}{chamber_pressure_mtorr}, 812.5, '... all of them');
    for my $m (qw(duration_s cpu_user_s cpu_system_s mem_max_mb)) {
        ok(defined $final->{metrics}{$m} && $final->{metrics}{$m} >= 0, "$m measured by the engine");
    }
    my ($o) = grep { $_->{event}{kind} eq 'canceled' } of_job($other->id, @events);
    is($o->{entity}{parent_id}, $lot->id, 'parent_id from a string');
    is($o->{entity}{type}, 'job', 'entity type defaults to job');
    my @lot = of_job($lot->id, @events);
    is($lot[-1]{event}{kind}, 'finished', 'succeeded -> finished');
    is($lot[-1]{event}{status}, 'succeeded', 'status succeeded');
    is($lot[0]{entity}{parent_id}, undef, 'no parent: null');
    $client->shutdown(5);
};

subtest 'business and sub keys on every event of the job' => sub {
    my $dir = workdir();
    my $client = Monitoring->configure(config_json($dir));
    my $w = $client->job('etch', entity_type => 'wafer', business_key => 'LOT-42', sub_key => 'W-07');
    ok($w->progress(50), 'progress');
    ok($w->finish, 'finish');
    my $plain = $client->job('clean', business_key => undef);
    ok($plain->finish, 'a job without keys');
    $client->flush(5);
    my @events = read_events($dir);
    my @w = of_job($w->id, @events);
    is(scalar @w, 3, 'three events');
    is_deeply([map { [$_->{entity}{business_key}, $_->{entity}{sub_key}] } @w],
              [(['LOT-42', 'W-07']) x 3], 'keys on each');
    my @p = of_job($plain->id, @events);
    is_deeply([map { [$_->{entity}{business_key}, $_->{entity}{sub_key}] } @p], [([undef, undef]) x 2], 'none: null');
    eval { $client->job('x', lot => 'LOT-1') };
    like($@, qr/unknown job option\(s\) `lot`.*business_key, sub_key/, 'unknown options are named, the known listed');
    $client->shutdown(5);
};

subtest 'wrong calls croak, the job stays usable' => sub {
    my $dir = workdir();
    my $client = Monitoring->configure(config_json($dir));
    my $job = $client->job('etch');
    my @cases = (
        [sub { $job->progress(150) }, qr/\Ainvalid event: event\.progress: /, 'percent over 100'],
        [sub { $job->progress(-1) }, qr/event\.progress/, 'negative percent'],
        [sub { $job->progress('half') }, qr/`percent` must be a number, got `half`/, 'a non-number'],
        [sub { $job->progress(undef) }, qr/`percent` must be a number, not undef/, 'undef percent'],
        [sub { $job->progress(50, "a\0b") }, qr/`message` contains a NUL character/, 'NUL in a message'],
        [sub { $job->metric(temp => 9**9**9) }, qr/event\.metrics\.temp/, 'infinite metric'],
        [sub { $job->metric(temp => 'hot') }, qr/`value` must be a number, got `hot`/, 'non-numeric metric'],
        [sub { $job->metric('temp') }, qr/usage: \$job->metric\(name => value, \.\.\.\)/, 'odd arguments'],
        [sub { $job->metric(undef, 1) }, qr/`name` must not be undef/, 'undef name'],
        [sub { $job->metadata(tool => undef) }, qr/`value` must not be undef/, 'undef metadata value'],
        [sub { $job->metadata() }, qr/usage: \$job->metadata/, 'no pairs'],
        [sub { $client->job(undef) }, qr/`name` must not be undef/, 'undef job name'],
        [sub { $client->job('') }, qr/name/, 'empty job name'],
        [sub { $client->job('x', colour => 'red') }, qr/unknown job option\(s\) `colour`/, 'unknown option'],
        [sub { $client->job('x', 'entity_type') }, qr/usage: \$client->job/, 'odd options'],
    );
    for my $case (@cases) {
        my ($code, $re, $what) = @$case;
        my $ok = eval { $code->(); 1 };
        ok(!$ok, "$what: croaks");
        isa_ok($@, 'Monitoring::Error::InvalidArgument', $what);
        like($@, $re, "$what: message");
    }
    my $line = __LINE__ + 1;
    eval { $job->progress(101) };
    is($@->line, $line, 'the error is reported at the caller\'s line');
    is($@->file, $0, '... and file');
    ok(!$job->is_finished, 'still open');
    ok($job->progress(10), 'still works');

    eval { $job->finish('exploded') };
    isa_ok($@, 'Monitoring::Error::InvalidArgument', 'unknown final status');
    like($@, qr/`exploded` is not one of succeeded, failed, canceled/, '... message');
    ok($job->is_finished, 'the handle is freed all the same');
    eval { $job->finish('succeeded') };
    like($@, qr/job `etch` \(.{36}\) is already finished/, 'finish twice croaks');
    eval { $job->progress(20) };
    like($@, qr/already finished/, 'progress after finish croaks');
    eval { $job->metric(x => 1) };
    like($@, qr/already finished/, 'metric after finish croaks');

    $client->flush(5);
    my @events = of_job($job->id, read_events($dir));
    is_deeply([map { $_->{event}{kind} } @events], [qw(started progress)], 'nothing from the refused calls');
    $client->shutdown(5);
};

subtest 'with_job' => sub {
    my $dir = workdir();
    my $client = Monitoring->configure(config_json($dir));
    my ($id_ok, $id_fail, $id_obj);
    my @list = $client->with_job('ok', sub { $id_ok = $_[0]->id; $_[0]->progress(50); (1, 2, 3) }, entity_type => 'lot');
    is_deeply(\@list, [1, 2, 3], 'returns what the block returns (list)');
    my $scalar = $client->with_job('ok2', sub { 'value' });
    is($scalar, 'value', '(scalar)');
    my $ok = eval { $client->with_job('boom', sub { $id_fail = $_[0]->id; die "chamber fault\n" }); 1 };
    ok(!$ok, 'the exception propagates');
    is($@, "chamber fault\n", '... unchanged');
    {
        package My::Err;
        sub new { bless { m => $_[1] }, $_[0] }
        use overload '""' => sub { "My::Err: $_[0]{m}" }, fallback => 1;
    }
    eval { $client->with_job('obj', sub { $id_obj = $_[0]->id; die My::Err->new('pressure') }) };
    isa_ok($@, 'My::Err', 'exception objects propagate as they are');
    $client->flush(5);
    my @events = read_events($dir);
    my @okev = of_job($id_ok, @events);
    is_deeply([map { $_->{event}{kind} } @okev], [qw(started progress finished)], 'finished');
    is($okev[0]{entity}{type}, 'lot', 'options passed on');
    my ($fail) = grep { $_->{event}{kind} eq 'error' } of_job($id_fail, @events);
    is($fail->{event}{message}, 'chamber fault', 'error with the message');
    my ($obj) = grep { $_->{event}{kind} eq 'error' } of_job($id_obj, @events);
    is($obj->{event}{message}, 'My::Err: pressure', 'an object\'s string');
    is($obj->{event}{metadata}{error_type}, 'My::Err', 'metadata.error_type = its class');
    eval { $client->with_job('x', 'not code') };
    like($@, qr/usage: \$client->with_job/, 'needs a code ref');
    $client->shutdown(5);
};

subtest 'a job keeps its client alive; finishing after shutdown' => sub {
    my $dir = workdir();
    my $job = Monitoring->configure(config_json($dir))->job('orphan');    # the client object is gone at once
    ok($job->progress(10), 'the client still runs');
    ok($job->finish('succeeded'), 'finish');
    undef $job;    # the last reference to the client: it is shut down and freed now
    my @events = read_events($dir);
    is_deeply([map { $_->{event}{kind} } @events], [qw(started progress finished)], 'every event delivered (flushed at free)');

    my $d2 = workdir();
    my $client = Monitoring->configure(config_json($d2));
    my $late = $client->job('late');
    $client->shutdown(5);
    eval { $late->finish('succeeded') };
    isa_ok($@, 'Monitoring::Error::Shutdown', 'finish after shutdown');
    ok($late->is_finished, 'the handle is freed');
};

done_testing;
