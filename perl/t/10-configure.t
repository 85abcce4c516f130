use strict;
use warnings;
use Test::More;
use Cwd ();

use lib 't/lib';
use MonTest;
use Monitoring;

my $dir = workdir();

subtest 'no configuration: environment and defaults (./monitoring-events)' => sub {
    my $cwd = Cwd::getcwd();
    chdir $dir or die;
    my $client = Monitoring->configure;
    isa_ok($client, 'Monitoring::Client');
    ok($client->emit({ event => { kind => 'log', message => 'defaults' } }), 'emit');
    $client->flush(5);
    $client->shutdown(5);
    my @files = glob("$dir/monitoring-events/*.jsonl");
    is(scalar @files, 1, 'one JSONL file under ./monitoring-events');
    chdir $cwd or die;
    my $event = JSON::PP->new->decode((split /\n/, slurp($files[0]))[0]);
    is($event->{event}{message}, 'defaults', 'the event is there');
    like($event->{app}{instance_id}, qr/:$$\z/, 'default instance id is host:pid');
};

subtest 'inline JSON text' => sub {
    my $d = workdir();
    my $client = Monitoring->configure(config_json($d));
    $client->emit({ event => { kind => 'log', message => 'json' } });
    $client->shutdown(5);
    my ($e) = read_events($d);
    is($e->{app}{name}, 'wafer-etch', 'app name from the configuration');
    is($e->{site_id}, 'fab1', 'site id');
};

subtest 'inline YAML text, a .yaml file and a .json file' => sub {
    my $d = workdir();
    my $yaml = "app: {name: yaml-app, version: \"2.0\", site_id: fab2}\n"
      . "direct_backends:\n  - {type: filesystem, name: local, path: $d/out}\nspool: {path: $d/spool}\n";
    my $client = Monitoring->configure($yaml);
    $client->emit({ event => { kind => 'log' } });
    $client->shutdown(5);
    my ($e) = read_events($d);
    is($e->{app}{name}, 'yaml-app', 'inline YAML');

    my $d2 = workdir();
    open my $fh, '>', "$d2/monitoring.yaml" or die;
    print {$fh} "app: {name: file-app}\ndirect_backends:\n  - {type: filesystem, name: local, path: $d2/out}\n"
      . "spool: {path: \"\${SPOOL_DIR}\"}\n";    # ${VAR} expansion in files
    close $fh;
    local $ENV{SPOOL_DIR} = "$d2/spool";
    $client = Monitoring->configure("$d2/monitoring.yaml");
    $client->emit({ event => { kind => 'log' } });
    $client->shutdown(5);
    ($e) = read_events($d2);
    is($e->{app}{name}, 'file-app', 'YAML file');

    my $d3 = workdir();
    open $fh, '>', "$d3/monitoring.json" or die;
    print {$fh} config_json($d3);
    close $fh;
    $client = Monitoring::Client->new("$d3/monitoring.json");
    $client->emit({ event => { kind => 'log' } });
    $client->shutdown(5);
    ($e) = read_events($d3);
    is($e->{app}{instance_id}, 'host-a:4242', 'JSON file, through Monitoring::Client->new');
};

subtest 'a hash reference' => sub {
    my $d = workdir();
    my $client = Monitoring->configure({
        app             => { name => "\x{c4}tz-app", version => '1.10', site_id => 'fab1' },
        direct_backends => [{ type => 'filesystem', name => 'local', path => "$d/out" }],
        queue           => { capacity => 1000, on_full => 'drop' },
        spool           => { path => "$d/spool" },
    });
    $client->emit({ event => { kind => 'log' } });
    $client->shutdown(5);
    my ($e) = read_events($d);
    is($e->{app}{name}, "\x{c4}tz-app", 'non-ASCII configuration value');
    is($e->{app}{version}, '1.10', 'a version string stays a string');
};

subtest 'environment variables' => sub {
    my $d = workdir();
    open my $fh, '>', "$d/env.yaml" or die;
    print {$fh} "direct_backends:\n  - {type: filesystem, name: local, path: $d/out}\nspool: {path: $d/spool}\n";
    close $fh;
    local $ENV{MONITORING_CONFIG}   = "$d/env.yaml";
    local $ENV{MONITORING_APP_NAME} = 'from-env';
    local $ENV{MONITORING_SITE_ID}  = 'fab9';
    my $client = Monitoring->configure(undef);
    $client->emit({ event => { kind => 'log' } });
    $client->shutdown(5);
    my ($e) = read_events($d);
    is($e->{app}{name}, 'from-env', 'MONITORING_APP_NAME');
    is($e->{site_id}, 'fab9', 'MONITORING_SITE_ID');
};

subtest 'configuration errors croak with the path of the key' => sub {
    my $d = workdir();
    my $bad = qq({"direct_backends":[{"type":"filesystem","name":"a","path":"$d/out"},{"type":"filesystem","name":"b","bukcet":"x"}]});
    my $line = __LINE__ + 1;
    my $ok = eval { Monitoring->configure($bad); 1 };
    ok(!$ok, 'configure dies');
    my $e = $@;
    isa_ok($e, 'Monitoring::Error::Config');
    is($e->status, 'config', 'status config');
    is($e->code, 2, 'code 2');
    like($e->message, qr/\Aconfiguration error at direct_backends\[1\]\.bukcet: unknown field/, 'message names the key');
    is($e->field, 'direct_backends[1].bukcet', 'field');
    is("$e", $e->message . " at $0 line $line.\n", 'stringifies like croak, at the caller');

    eval { Monitoring->configure("$d/no-such-file.yaml") };
    isa_ok($@, 'Monitoring::Error::Config', 'a missing file');
    like($@, qr/no-such-file\.yaml/, 'names the file');

    eval { Monitoring->configure([1, 2]) };
    isa_ok($@, 'Monitoring::Error::Config', 'an array reference');
    like($@, qr/must be a hash reference, a file path or YAML\/JSON text/, 'says what it takes');

    eval { Monitoring->configure({ app => { name => sub { } } }) };
    isa_ok($@, 'Monitoring::Error::Config', 'a hash that cannot be JSON');
    like($@, qr/configuration error at app\.name: cannot encode a CODE reference/, 'names the key');

    eval { Monitoring::configure("$d/monitoring.yaml") };
    like($@, qr/usage: Monitoring->configure\(\$config\)/, 'called as a function');
    eval { Monitoring->configure("{\"app\":{\"name\":\"x\0y\"}}") };
    like($@, qr/`config` contains a NUL character/, 'NUL in the text');
};

done_testing;
