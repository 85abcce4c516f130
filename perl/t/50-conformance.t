use strict;
use warnings;
use Test::More;
use Cwd ();

use lib 't/lib';
use MonTest;

# The cross-language conformance scenarios (tests/conformance), replayed through this build of
# the distribution by tests/conformance/perl/driver.pl and judged by check.py.

my $root = repo_root()
  or plan skip_all => 'not inside the SDK source tree: tests/conformance/run.sh is not there (set PERL_MONITORING_ROOT)';
-f "$root/target/release/libmonitoring.so"
  or plan skip_all => "$root/target/release/libmonitoring.so is missing (cargo build --release -p monitoring-ffi)";
my $python = $ENV{PYTHON} || 'python3';
system("$python -c 1 >/dev/null 2>&1") == 0
  or plan skip_all => "no $python for tests/conformance/check.py";

my $here = Cwd::getcwd();
-d "$here/blib/arch" or BAIL_OUT("no blib/ in $here: run make first");
my $target = $ENV{CARGO_TARGET_DIR} || "$root/target";
local $ENV{CONFORMANCE_PERL_BLIB} = $here;    # this build, as it is
local $ENV{CONFORMANCE_NO_BUILD}  = 1;        # no cargo from inside a test
local $ENV{CONFORMANCE_WORK}      = "$target/perl/conformance-t";
local $ENV{PERL}                  = $^X;

open my $run, '-|', 'bash', "$root/tests/conformance/run.sh", 'perl' or die "cannot run run.sh: $!";
my @lines = <$run>;
close $run;
my $status = $? >> 8;

my ($current, @diag);
my $flush = sub { diag(join '', @diag) if @diag; @diag = () };
for my $line (@lines) {
    if ($line =~ /^(PASS|FAIL) perl (\S+)/) {
        $flush->();
        ok($1 eq 'PASS', "scenario $2");
    } elsif ($line =~ /^\s/) {
        push @diag, $line;
    }
}
$flush->();
my $summary = $lines[-1] // '(no output)';
chomp $summary;
like($summary, qr/\A\d+ passed, 0 failed\z/, "run.sh perl: $summary") or diag(join '', @lines);
is($status, 0, 'run.sh exit status 0');
note("runs kept in $ENV{CONFORMANCE_WORK}/perl/SCENARIO/ (out/, results.jsonl, driver.log, check.log)");

done_testing;
