package Monitoring::Error;

use strict;
use warnings;

our $VERSION = '0.1.0';

use overload
  '""'     => \&as_string,
  'bool'   => sub { 1 },
  fallback => 1;

# Status codes of the C ABI (monitoring_status), their names, and the class of each.
my @STATUS = qw(ok invalid_argument config queue_full timeout shutdown io internal);
my @CLASS  = (undef, qw(InvalidArgument Config QueueFull Timeout Shutdown IO Internal));
for my $i (1 .. $#CLASS) {
    no strict 'refs';
    @{"Monitoring::Error::$CLASS[$i]::ISA"} = ('Monitoring::Error');
}

# Frames of these packages are skipped when finding where the error is reported (as croak does).
my %INTERNAL = map { $_ => 1 } qw(Monitoring Monitoring::Client Monitoring::Job Monitoring::Error);

sub new {
    my ($class, %args) = @_;
    my $code = $args{code} // 7;
    $code = 7 unless $code =~ /\A[1-7]\z/;
    my ($file, $line) = ($args{file}, $args{line});
    unless (defined $file) {
        for (my $i = 0; my @c = caller($i); $i++) {
            ($file, $line) = @c[1, 2];
            last unless $INTERNAL{ $c[0] };
        }
    }
    return bless {
        code    => $code,
        status  => $STATUS[$code],
        message => $args{message} // $STATUS[$code],
        file    => $file // '?',
        line    => $line // 0,
    }, "Monitoring::Error::$CLASS[$code]";
}

# Called by the XS code: dies with the error object.
sub _throw {
    my ($code, $message) = @_;
    die __PACKAGE__->new(code => $code, message => $message);
}

sub code    { $_[0]{code} }
sub status  { $_[0]{status} }
sub message { $_[0]{message} }
sub file    { $_[0]{file} }
sub line    { $_[0]{line} }

# The field or configuration key the engine named, when it named one.
sub field {
    my $m = $_[0]{message};
    return $1 if $m =~ /\Ainvalid event: (\S+?): /;
    return $1 if $m =~ /\Aconfiguration error at (\S+?): /;
    return undef;
}

sub as_string {
    my $self = shift;
    return "$self->{message} at $self->{file} line $self->{line}.\n";
}

sub throw {
    my ($class, %args) = @_;
    die $class->new(%args);
}

1;

__END__

=head1 NAME

Monitoring::Error - the exceptions of L<Monitoring>

=head1 SYNOPSIS

    use Monitoring;

    my $ok = eval { $client->emit({ event => { kind => 'metric', colour => 'red' } }); 1 };
    unless ($ok) {
        my $e = $@;
        die $e unless ref $e && $e->isa('Monitoring::Error');
        warn "monitoring: ", $e->message, "\n";   # invalid event: event.colour: unknown field ...
        warn "status: ", $e->status, "\n";        # invalid_argument
        warn "field: ", $e->field // '-', "\n";   # event.colour
    }

=head1 DESCRIPTION

Every call of L<Monitoring> that fails dies ("croaks") with an object of this class. It
stringifies like a C<croak> message: the engine's message, then C<at FILE line N.> of the caller,
so C<die> and C<warn> print something useful and C<< like($@, qr/unknown field/) >> works.

The class says what went wrong; each is a subclass of C<Monitoring::Error>:

    status             class                               when
    invalid_argument   Monitoring::Error::InvalidArgument  a rejected event, a bad argument
    config             Monitoring::Error::Config           a bad configuration
    queue_full         Monitoring::Error::QueueFull        job(): the queue is full, no job started
    timeout            Monitoring::Error::Timeout          flush/shutdown: the deadline came first
    shutdown           Monitoring::Error::Shutdown         the client is shut down
    io                 Monitoring::Error::IO               an I/O error
    internal           Monitoring::Error::Internal         a bug in the library

(C<emit>, C<progress>, C<metric> and C<finish> do not die when the queue is full: they return
false, and the engine counts the dropped event.)

=head1 METHODS

=over

=item message

The engine's message, unchanged (C<monitoring_last_error()> of the C ABI), e.g.
C<invalid event: event.colour: unknown field `colour` ...>, or the binding's own for arguments
the engine never saw (C<invalid argument: `name` must not be undef>).

=item status

The status name: one of the names above.

=item code

The C<monitoring_status> number (1..7).

=item field

The field path (C<event.colour>) or configuration key (C<direct_backends[1].bukcet>) the message
names, or undef.

=item file, line

Where the failing call was made.

=back

=cut
