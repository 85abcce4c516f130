package Monitoring::Job;

use strict;
use warnings;

our $VERSION = '0.1.0';

use Scalar::Util qw(blessed refaddr);

require Monitoring;    # the XS part: id, name, is_finished, progress, metric, metadata, finish

# Longest message a job's final event carries (the event must stay under limits.max_event_bytes).
our $MAX_MESSAGE = 8192;

# The exception that is ending the program: a die outside any eval (recorded by the __DIE__
# hook below, since Perl sets no $@ for it), so that jobs closed while the program dies report it.
our $UNCAUGHT;

# Installed when the module is loaded; a handler that was already there is called after it,
# unchanged. Setting $SIG{__DIE__} later replaces it (uncaught dies then leave jobs `canceled`).
{
    my $previous = $SIG{__DIE__};
    $SIG{__DIE__} = sub {
        $UNCAUGHT = $_[0] if defined $^S && !$^S;
        if (ref $previous eq 'CODE') {
            goto &$previous;
        } elsif (defined $previous && !ref $previous && $previous ne '' && $previous ne 'DEFAULT' && $previous ne 'IGNORE') {
            no strict 'refs';
            goto &{$previous};
        }
        return;
    };
}

# The job was not finished when its object went away. See "Jobs left unfinished" in Monitoring.pm.
sub DESTROY {
    my $self = shift;
    my $err = $@;
    my @outcome;
    @outcome = _outcome($self->_err0, $err) if $self->_owned_and_open;
    $self->_destroy(@outcome);
}

# (status, message, error_type) for a job left unfinished.
sub _outcome {
    my ($before, $err) = @_;
    return _failure($UNCAUGHT) if defined $UNCAUGHT;
    return _failure($err) if _new_error($err, $before);
    my $phase = ${^GLOBAL_PHASE} // '';
    return ('canceled', ($phase eq 'END' || $phase eq 'DESTRUCT')
        ? 'the program ended before the job finished'
        : 'the job was not finished (its object went out of scope)');
}

sub _new_error {
    my ($err, $before) = @_;
    return 0 unless ref $err || (defined $err && length $err);
    return 1 unless ref $before || (defined $before && length $before);
    return !(ref $err && ref $before && refaddr($err) == refaddr($before)) if ref $err || ref $before;
    return $err ne $before;
}

sub _failure {
    my ($err) = @_;
    local $@;
    my $message = ref $err ? eval {"$err"} // ref $err : $err;
    $message =~ s/\s+\z//;
    $message = substr($message, 0, $MAX_MESSAGE - 3) . '...' if length $message > $MAX_MESSAGE;
    return ('failed', $message, blessed $err ? ref $err : undef);
}

1;

__END__

=head1 NAME

Monitoring::Job - a running job of a L<Monitoring> client

=head1 DESCRIPTION

Made by C<< $client->job(...) >>; see L<Monitoring> for every method and for what happens to a
job that is never finished.

=cut
