#!/usr/bin/perl
# Perl, without modules: greets the "name" in the query string.
use strict;
use warnings;

my %q = map { my ($k, $v) = split /=/, $_, 2; ($k => $v // '') }
        split /&/, ($ENV{QUERY_STRING} // '');
my $name = $q{name} // 'world';
$name =~ tr/+/ /;
$name =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
$name =~ s/[<>&"]//g;
print "Content-Type: text/plain; charset=utf-8\n\n";
print "Hello, $name, from Perl $^V!\n";
