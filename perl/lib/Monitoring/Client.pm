package Monitoring::Client;

use strict;
use warnings;

our $VERSION = '0.1.0';

use Scalar::Util qw(blessed);

require Monitoring;    # loads the XS part: new, emit, flush, shutdown, _job_start, _stats_json

my %JOB_OPTIONS = map { $_ => 1 } qw(entity_type parent_id parent business_key sub_key);

sub _usage { Monitoring::Error::_throw(1, "invalid argument: usage: $_[0]") }

sub job {
    my ($self, $name, @opts) = @_;
    _usage('$client->job($name, entity_type => $type, parent_id => $id_or_job, business_key => $key, sub_key => $key)')
      if @opts % 2;
    my %opt = @opts;
    if (my @unknown = grep { !$JOB_OPTIONS{$_} } sort keys %opt) {
        Monitoring::Error::_throw(1, 'invalid argument: unknown job option(s) '
              . join(', ', map {"`$_`"} @unknown) . ' (known: entity_type, parent_id, parent, business_key, sub_key)');
    }
    my $parent = defined $opt{parent_id} ? $opt{parent_id} : $opt{parent};
    $parent = $parent->id if blessed $parent && $parent->isa('Monitoring::Job');
    return $self->_job_start($name, $opt{entity_type}, $parent, $opt{business_key}, $opt{sub_key});
}

sub with_job {
    my ($self, $name, $code, @opts) = @_;
    _usage('$client->with_job($name, sub { my ($job) = @_; ... }, %options)')
      unless ref $code eq 'CODE' && @opts % 2 == 0;
    my $job  = $self->job($name, @opts);
    my $want = wantarray;
    my @result;
    my $ok = eval {
        if    ($want)         { @result    = $code->($job) }
        elsif (defined $want) { $result[0] = $code->($job) }
        else                  { $code->($job) }
        1;
    };
    my $err = $@;
    if (!$ok) {
        $err = "unknown error (\$\@ was empty)\n" unless ref $err || length $err;
        unless ($job->is_finished) {
            my (undef, $message, $type) = Monitoring::Job::_failure($err);
            local $@;
            eval { $job->metadata(error_type => $type) if defined $type; $job->finish('failed', $message) };
        }
        die $err;
    }
    unless ($job->is_finished) {
        local $@;
        eval { $job->finish('succeeded') };
    }
    return $want ? @result : $result[0];
}

sub stats {
    my $self = shift;
    my $json = $self->_stats_json;
    require JSON::PP;
    return JSON::PP->new->utf8->decode($json);
}

1;

__END__

=head1 NAME

Monitoring::Client - a configured monitoring client

=head1 DESCRIPTION

Made by C<< Monitoring->configure >> (or C<< Monitoring::Client->new >>, the same); see
L<Monitoring> for every method.

=cut
