#!/usr/bin/perl
# An SMSC written with Net::SMPP (Debian's libnet-smpp-perl), for interoperability tests.
# Prints "PORT <n>" once listening, then one line per event: "BIND <system_id>",
# "SUBMIT <destination> <hex short_message> <data_coding> <esm_class>", "RECEIPT_ACK <status>".
# Answers each submit_sm with message id "perl-<n>" and sends a delivery receipt for it.
# Exits after an unbind or when the peer goes away.
use strict;
use warnings;
use Net::SMPP;

$| = 1;
my $listener = Net::SMPP->new_listen('127.0.0.1', port => 0, smpp_version => 0x34)
    or die "cannot listen: $!";
print "PORT ", $listener->sockport, "\n";
my $smpp = $listener->accept or die "accept: $!";
my $count = 0;
while (my $pdu = $smpp->read_pdu()) {
    my $cmd = $pdu->explain_cmd;
    if ($cmd =~ /^bind_/) {
        print "BIND ", $pdu->{system_id}, "\n";
        my $resp = "${cmd}_resp";
        $smpp->$resp(seq => $pdu->seq, system_id => 'perl-smsc', status => 0);
    } elsif ($cmd eq 'submit_sm') {
        $count++;
        my $id = "perl-$count";
        printf "SUBMIT %s %s %d %d\n", $pdu->{destination_addr},
            unpack('H*', $pdu->{short_message}), $pdu->{data_coding}, $pdu->{esm_class};
        $smpp->submit_sm_resp(seq => $pdu->seq, message_id => $id, status => 0);
        $smpp->deliver_sm(
            async => 1,
            source_addr => $pdu->{destination_addr},
            destination_addr => $pdu->{source_addr},
            esm_class => 0x04,
            short_message => "id:$id sub:001 dlvrd:001 submit date:2611251200 "
                . "done date:2611251201 stat:DELIVRD err:000 text:",
        );
    } elsif ($cmd eq 'deliver_sm_resp') {
        print "RECEIPT_ACK ", $pdu->status, "\n";
    } elsif ($cmd eq 'enquire_link') {
        $smpp->enquire_link_resp(seq => $pdu->seq);
    } elsif ($cmd eq 'unbind') {
        $smpp->unbind_resp(seq => $pdu->seq);
        print "UNBIND\n";
        last;
    }
}
