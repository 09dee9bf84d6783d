#!/usr/bin/perl
# An ESME written with Net::SMPP: binds as transceiver to PORT, submits one message and
# prints "SUBMIT_RESP <status> <message_id>", then "RECEIPT <short_message>" for the receipt.
use strict;
use warnings;
use Net::SMPP;

$| = 1;
my ($port, $system_id, $password) = @ARGV;
my $smpp = Net::SMPP->new_transceiver('127.0.0.1', port => $port, system_id => $system_id,
    password => $password, smpp_version => 0x34) or die "bind failed\n";
my $resp = $smpp->submit_sm(source_addr => '8686', destination_addr => '32470000001',
    short_message => 'hello from perl', registered_delivery => 1);
print "SUBMIT_RESP ", $resp->status, " ", $resp->{message_id}, "\n";
my $pdu = $smpp->read_pdu() or die "no receipt\n";
print "RECEIPT ", $pdu->{short_message}, "\n";
$smpp->deliver_sm_resp(seq => $pdu->seq, message_id => '');
$smpp->unbind();
print "DONE\n";
