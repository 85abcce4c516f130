use strict;
use warnings;
use Test::More;
use Cwd ();

use lib 't/lib';
use MonTest;

# The examples run as a user would run them, and do what they say.

my $examples = Cwd::realpath('examples');
my $dir = workdir();

my ($status, $out) = run_perl($dir, "do '$examples/job_fails.pl'; die \$@ if \$@;");
is($status, 0, 'examples/job_fails.pl exits 0') or diag $out;
like($out, qr/rejected as expected: invalid event: event\.progress: /, 'shows a refused call');
like($out, qr/the step died: chamber pressure out of range/, 'the step dies');
like($out, qr/^\S+Z  started\s+running\s+lot:/m, 'lot started');
like($out, qr/^\S+Z  error\s+failed\s+step:\S+ message='chamber pressure out of range'/m, 'step: error, with the message');
like($out, qr/^\S+Z  canceled\s+canceled\s+lot:\S+ message='step etch failed'/m, 'lot canceled');
like($out, qr/^10 events\. The step's error event in full:/m, '10 events');
my @files = glob("$dir/monitoring-events/*.jsonl");
is(scalar @files, 1, 'written under ./monitoring-events (the default configuration)');

done_testing;
