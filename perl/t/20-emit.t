use strict;
use warnings;
use utf8;
use Test::More;
use Encode ();

use lib 't/lib';
use MonTest;
use Monitoring;

my $enc = \&Monitoring::encode_json;    # what emit(\%event) sends (UTF-8 bytes)
sub text { Encode::decode('UTF-8', $enc->(@_)) }

subtest 'the encoder: numbers stay numbers and round-trip' => sub {
    is(text([0.1]), '[0.1]', 'shortest form');
    is(text([0.1 + 0.2]), '[0.30000000000000004]', '17 significant digits when needed');
    is(text([1.7976931348623157e308, -2.2250738585072014e-308, 1e-7]),
        '[1.7976931348623157e+308,-2.2250738585072014e-308,0.0000001]', 'extremes');
    is(text([3, -25000000000, 0, 123456789.125, 101325.0, -0.05]), '[3,-25000000000,0,123456789.125,101325,-0.05]', 'integers and exact decimals');
    is(text([1e15, 1e300, 5e-324, 1 / 3]), '[1e+15,1e+300,4.94065645841247e-324,0.3333333333333333]', 'large, tiny, repeating');
    require POSIX;
    my $bad = 0;
    srand(7);
    for my $i (1 .. 20000) {
        my $x = (rand() - 0.5) * 10**(int(rand(40)) - 20);
        $x = int($x * 10**int(rand(6))) / 10**int(rand(6)) if $i % 3 == 0;
        (my $t = $enc->([$x])) =~ s/\A\[|\]\z//g;
        $bad++ if (POSIX::strtod($t))[0] != $x;
    }
    is($bad, 0, '20,000 random doubles read back exactly');
    is(text([18446744073709551615, -9223372036854775808]), '[18446744073709551615,-9223372036854775808]', 'UV and IV limits');
    is(text(["25", "3.5"]), '["25","3.5"]', 'strings that look like numbers stay strings');
    my $s = "25";
    my $n = $s + 0;
    is(text([$n]), '[25]', '... and $x + 0 makes a number');
    my $num = 42;
    my $shown = "$num";    # stringify a number
    if ($] >= 5.036) {
        is(text([$num]), '[42]', 'a number that was printed stays a number (Perl 5.36+)');
    }
    for my $x (9**9**9, -9**9**9, (9**9**9) - (9**9**9)) {
        my $ok = eval { $enc->({ metrics => { x => $x } }); 1 };
        ok(!$ok, "non-finite $x refused");
        like($@, qr/\Ainvalid event: metrics\.x: .*not finite/, '... naming the field');
    }
};

subtest 'the encoder: null, booleans, objects, arrays' => sub {
    is(text({ a => undef }), '{"a":null}', 'undef is null');
    is(text({ m => {}, l => [] }) =~ /"m":\{\}/ ? 1 : 0, 1, '{} stays an object');
    is(text([\1, \0, JSON::PP::true(), JSON::PP::false()]), '[true,false,true,false]', '\1, \0, JSON::PP booleans');
    if ($] >= 5.036) {
        is(text([!!1, !!0]), '[true,false]', 'Perl 5.36 booleans');
    }
    is(text([[1, [2, [3]]], { a => { b => { c => 1 } } }]), '[[1,[2,[3]]],{"a":{"b":{"c":1}}}]', 'nesting');
    require Tie::Hash;
    tie my %tied, 'Tie::StdHash';
    %tied = (a => 1);
    is(text(\%tied), '{"a":1}', 'a tied hash');
    my @sparse;
    $sparse[2] = 'x';
    is(text(\@sparse), '[null,null,"x"]', 'holes in arrays are null');
};

subtest 'the encoder: text is UTF-8' => sub {
    is($enc->(["Ätz µm – 晶圆 🚀"]), Encode::encode('UTF-8', '["Ätz µm – 晶圆 🚀"]'), 'wide characters as UTF-8 bytes');
    my $latin1 = "\xe4";    # a byte string: one character, ä
    utf8::downgrade($latin1);
    is($enc->([$latin1]), "[\"\xc3\xa4\"]", 'a Latin-1 byte string is upgraded');
    is(text({ "Schlüssel" => 1 }), '{"Schlüssel":1}', 'non-ASCII keys');
    is(text(["q\"b\\s/\n\r\t\x08\x0c\x01\x1f"]), '["q\"b\\\\s/\n\r\t\b\f\u0001\u001f"]', 'escapes');
};

{
    package My::Stamp;
    sub new { bless { t => $_[1] }, $_[0] }
    sub TO_JSON { { at => $_[0]{t} } }
    package My::Path;
    use overload '""' => sub { ${ $_[0] } }, fallback => 1;
    package My::Opaque;
}

subtest 'the encoder: objects and refusals' => sub {
    is(text([My::Stamp->new(5)]), '[{"at":5}]', 'TO_JSON');
    is(text([bless \(my $p = '/tmp/x'), 'My::Path']), '["/tmp/x"]', 'an object that stringifies');
    my $ok = eval { $enc->({ event => { metadata => { o => bless({}, 'My::Opaque') } } }); 1 };
    ok(!$ok, 'other objects refused');
    like($@, qr/\Ainvalid event: event\.metadata\.o: cannot encode a My::Opaque object as JSON/, '... naming field and class');
    isa_ok($@, 'Monitoring::Error::InvalidArgument');
    eval { $enc->({ list => [1, sub { }] }) };
    like($@, qr/\Ainvalid event: list\[1\]: cannot encode a CODE reference/, 'code refs refused, array index in the path');
    eval { $enc->({ s => \"text" }) };
    like($@, qr/cannot encode a SCALAR reference/, 'scalar refs refused');
    my %cycle;
    $cycle{self} = \%cycle;
    eval { $enc->(\%cycle) };
    like($@, qr/nested more than 512 levels deep/, 'cycles refused');
    Scalar::Util::weaken($cycle{self});
};

my $dir = workdir();
my $client = Monitoring->configure(config_json($dir));

subtest 'emit a hashref, JSON text and JSON bytes' => sub {
    ok($client->emit({ event => { kind => 'metric', metrics => { wafers => 25, temp => 21.5, tenth => 0.1 + 0.2 } } }), 'hashref: true');
    is($client->emit('{"event":{"kind":"log","message":"json text: Ätz"}}'), 1, 'character string');
    is($client->emit(Encode::encode('UTF-8', '{"event":{"kind":"log","message":"json bytes: Ätz"}}')), 1, 'UTF-8 bytes');
    ok($client->emit({ event => { kind => 'log', message => 'wide: 晶圆 🚀', metadata => { 'Werkzeug' => 'ÄTZ-07' } } }), 'wide characters');
    ok($client->emit({ entity => { type => 'tool', id => 'ETCH-07', parent_id => undef }, event => { kind => 'heartbeat', metrics => {}, metadata => {} } }), 'nulls and {}');
    $client->flush(5);
    my @events = read_events($dir);
    is(scalar @events, 5, 'five events');
    is_deeply($events[0]{event}{metrics}, { wafers => 25, temp => 21.5, tenth => 0.30000000000000004 }, 'metrics exact');
    is($events[1]{event}{message}, 'json text: Ätz', 'text from a character string');
    is($events[2]{event}{message}, 'json bytes: Ätz', 'text from UTF-8 bytes');
    is($events[3]{event}{message}, 'wide: 晶圆 🚀', 'wide characters');
    is($events[3]{event}{metadata}{Werkzeug}, 'ÄTZ-07', 'non-ASCII metadata key');
    is($events[4]{entity}{id}, 'ETCH-07', 'entity');
    is_deeply($events[4]{event}{metrics}, {}, '{} stays {}');
};

subtest 'rejected events croak and write nothing' => sub {
    my $before = () = read_events($dir);
    my @cases = (
        [{ event => { kind => 'log', colour => 'red' } }, qr/\Ainvalid event: event\.colour: unknown field/, 'event.colour'],
        [{ event => { kind => 'explode' } }, qr/event\.kind/, 'event.kind'],
        [{ event => { kind => 'metric', metrics => { temp => 'hot' } } }, qr/event\.metrics\.temp/, 'event.metrics.temp'],
        [{ event => { kind => 'metric', metrics => { n => "25" } } }, qr/event\.metrics\.n/, 'event.metrics.n'],
        [{ bogus => 1, event => { kind => 'log' } }, qr/bogus/, 'bogus'],
        ['{"event":', qr/\Ainvalid event: /, undef],
        ['[1,2]', qr/object/, undef],
        ["{\"event\":{\"kind\":\"log\",\"message\":\"\xff\xfe\"}}", qr/UTF-8/, undef],
        [[1, 2], qr/object/, undef],
    );
    for my $case (@cases) {
        my ($event, $re, $field) = @$case;
        my $ok = eval { $client->emit($event); 1 };
        ok(!$ok, 'refused: ' . (ref $event ? Monitoring::encode_json($event) : "text $event"));
        isa_ok($@, 'Monitoring::Error::InvalidArgument');
        like($@->message, $re, '... message');
        is($@->field, $field, "... field $field") if defined $field;
    }
    eval { $client->emit(undef) };
    like($@, qr/`event` must be a hash reference or JSON text, not undef/, 'undef');
    eval { $client->emit() };
    like($@, qr/Usage: Monitoring::Client::emit/, 'no argument');
    eval { Monitoring::Client::emit('Monitoring::Client', {}) };
    like($@, qr/not a Monitoring::Client object/, 'not a client');
    eval { Monitoring::Client::emit(undef, {}) };
    like($@, qr/not a Monitoring::Client object/, 'undef client');
    ok($client->emit({ event => { kind => 'log', message => 'control' } }), 'still works');
    $client->flush(5);
    my $after = () = read_events($dir);
    is($after, $before + 1, 'only the control event was written');
};

subtest 'a full queue: emit returns false, counts the drop, never blocks' => sub {
    my $c = Monitoring->configure(
        q({"direct_backends":[{"type":"webhook","name":"nowhere","url":"http://127.0.0.1:9/x"}],)
          . q("queue":{"capacity":4,"on_full":"drop","batch_max":2},"retry":{"initial_ms":5000},)
          . qq("spool":{"path":"$dir/spool-full"}}));
    my ($queued, $dropped) = (0, 0);
    for (1 .. 200) {
        $c->emit({ event => { kind => 'log' } }) ? $queued++ : $dropped++;
    }
    cmp_ok($dropped, '>', 0, "dropped $dropped of 200");
    is(Monitoring::last_error(), 'queue full: event dropped', 'last_error says why');
    is($c->stats->{dropped}, $dropped, 'stats count the drops');
    eval { $c->flush(0.1) };
    isa_ok($@, 'Monitoring::Error::Timeout', 'flush at its deadline');
    is($@->status, 'timeout', 'status timeout');
    eval { $c->shutdown(0.1) };
};

subtest 'after shutdown' => sub {
    $client->shutdown(5);
    ok($client->shutdown(5), 'shutdown is idempotent');
    my $ok = eval { $client->emit({ event => { kind => 'log' } }); 1 };
    ok(!$ok, 'emit croaks');
    isa_ok($@, 'Monitoring::Error::Shutdown');
    is($@->message, 'client is shut down', 'the engine\'s message');
    eval { $client->flush(1) };
    isa_ok($@, 'Monitoring::Error::Shutdown', 'flush croaks');
    eval { $client->job('late') };
    isa_ok($@, 'Monitoring::Error::Shutdown', 'job croaks');
    ok(ref $client->stats eq 'HASH', 'stats still work');
};

done_testing;
