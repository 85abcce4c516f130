use strict;
use warnings;
use Test::More;

use lib 't/lib';
use MonTest;

BEGIN { use_ok('Monitoring') }

like(Monitoring::version(), qr/\A\d+\.\d+\.\d+/, 'library version: ' . Monitoring::version());
is(Monitoring::abi_version(), 1, 'ABI version 1');
is($Monitoring::VERSION, '0.1.0', 'module version');
can_ok('Monitoring', qw(configure version abi_version last_error encode_json
  before_fork after_fork_parent after_fork_child));
can_ok('Monitoring::Client', qw(new emit job with_job flush shutdown stats));
can_ok('Monitoring::Job', qw(id name progress metric metadata finish is_finished));
can_ok('Monitoring::Error', qw(status code message field file line));
for my $class (qw(InvalidArgument Config QueueFull Timeout Shutdown IO Internal)) {
    ok("Monitoring::Error::$class"->isa('Monitoring::Error'), "Monitoring::Error::$class isa Monitoring::Error");
}
is(Monitoring::status_name(1), 'invalid_argument', 'status names');
is(Monitoring::last_error(), '', 'no error yet');

done_testing;
