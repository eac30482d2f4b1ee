"""From a DNS question to a DNS reply, using the record table (pure, apart from ``forward``).

What the cluster DNS answers, and with which response code (RCODE):

- a name in the cluster domain with records of the asked type: the records (flag ``aa``:
  we are authoritative for ``cluster.local``); SRV answers carry their targets' A records
  in the additional section;
- a name in the domain that exists without records of that type (``default.svc.cluster.local``,
  a headless Service with no ready pods): NOERROR with no answer ("no data"), the zone's SOA
  in the authority section so resolvers may cache the negative answer;
- a name in the domain that does not exist: NXDOMAIN, also with the SOA;
- the reverse name of a ClusterIP or a headless endpoint (``in-addr.arpa``): its PTR;
- any other name: forwarded to the upstream resolver if one is configured explicitly,
  else NXDOMAIN (we never send queries anywhere by default);
- a class other than IN (``dig CH TXT version.bind``): REFUSED; an opcode other than QUERY:
  NOTIMP; not exactly one question: FORMERR.

The resolver in the pod (glibc, musl, busybox) does the search-path expansion: with
``ndots:5``, ``nginx-svc`` is first tried as ``nginx-svc.default.svc.cluster.local``. Watch it::

    tcpdump -ni <bridge> port 53
"""

from __future__ import annotations

from collections.abc import Callable

import dnslib
from dnslib import CLASS, OPCODE, QTYPE, RCODE, RR, DNSHeader, DNSRecord

from minikube_py.dns.records import Record, RecordTable, absolute, pod_record

#: Largest UDP reply without EDNS (RFC 1035 §4.2.1); our EDNS buffer size (DNS flag day 2020).
UDP_LIMIT = 512
EDNS_UDP_SIZE = 1232

Forward = Callable[[DNSRecord], "DNSRecord | None"]


def to_rr(record: Record, owner: str | None = None) -> RR:
    """A :class:`Record` as a dnslib resource record (``owner`` keeps the question's case)."""
    if record.rtype == "SRV":
        rdata = dnslib.SRV(record.priority, record.weight, record.port, record.value)
    else:  # dnslib.A, .AAAA, .PTR, .CNAME, .TXT: one value each
        rdata = getattr(dnslib, record.rtype)(record.value)
    return RR(owner or record.name, getattr(QTYPE, record.rtype), rdata=rdata, ttl=record.ttl)


def soa(table: RecordTable, serial: int, ttl: int = 5) -> RR:
    zone = table.zone
    return RR(zone, QTYPE.SOA, ttl=ttl, rdata=dnslib.SOA(
        f"ns.dns.{zone}", f"hostmaster.{zone}", (serial, 7200, 1800, 86400, ttl)))


def reply_to(request: DNSRecord, rcode: int = RCODE.NOERROR, aa: bool = False,
             ra: bool = False) -> DNSRecord:
    """An empty reply: same id, question and RD flag; EDNS echoed if the client sent it."""
    header = DNSHeader(id=request.header.id, qr=1, aa=int(aa), rd=request.header.rd,
                       ra=int(ra), rcode=rcode)
    reply = DNSRecord(header, q=request.q if request.questions else None)
    if any(rr.rtype == QTYPE.OPT for rr in request.ar):
        reply.add_ar(dnslib.EDNS0(udp_len=EDNS_UDP_SIZE))
    return reply


def udp_limit(request: DNSRecord) -> int:
    """How big a UDP reply may be: 512, or the client's EDNS buffer size (capped at ours)."""
    for rr in request.ar:
        if rr.rtype == QTYPE.OPT:
            return max(UDP_LIMIT, min(int(rr.rclass), EDNS_UDP_SIZE))
    return UDP_LIMIT


def truncated(reply: DNSRecord) -> DNSRecord:
    """The reply with no records and the TC flag: "too big for UDP, ask again over TCP"."""
    header = DNSHeader(id=reply.header.id, bitmap=reply.header.bitmap)
    header.tc = 1
    out = DNSRecord(header, q=reply.q)
    for rr in reply.ar:
        if rr.rtype == QTYPE.OPT:
            out.add_ar(rr)
    return out


def answer(request: DNSRecord, table: RecordTable, serial: int = 1,
           forward: Forward | None = None) -> DNSRecord:
    """The reply to ``request`` from ``table``; ``forward`` answers names outside the
    cluster (None: NXDOMAIN for them)."""
    ra = forward is not None
    if request.header.opcode != OPCODE.QUERY:
        return reply_to(request, RCODE.NOTIMP, ra=ra)
    if len(request.questions) != 1:
        return reply_to(request, RCODE.FORMERR, ra=ra)
    question = request.q
    if question.qclass != CLASS.IN:
        return reply_to(request, RCODE.REFUSED, ra=ra)
    qname, qtype = str(question.qname), QTYPE.get(question.qtype, str(question.qtype))
    if table.in_zone(qname):
        return _zone_answer(request, table, serial, qname, qtype, ra)
    reverse = table.lookup(qname, "PTR") if qtype in ("PTR", "ANY") else []
    if reverse:
        reply = reply_to(request, aa=True, ra=ra)
        for record in reverse:
            reply.add_answer(to_rr(record, qname))
        return reply
    if forward is not None:
        forwarded = forward(request)
        return forwarded if forwarded is not None else reply_to(request, RCODE.SERVFAIL, ra=ra)
    return reply_to(request, RCODE.NXDOMAIN, ra=ra)


def _zone_answer(request: DNSRecord, table: RecordTable, serial: int, qname: str,
                 qtype: str, ra: bool) -> DNSRecord:
    name = absolute(qname)
    records = table.lookup(name)
    pod = pod_record(name, table.zone) if not records else None
    if pod is not None:
        records = [pod]
    if name == table.zone:
        apex = {"SOA": soa(table, serial), "NS": RR(table.zone, QTYPE.NS, ttl=5,
                                                     rdata=dnslib.NS(f"ns.dns.{table.zone}"))}
        reply = reply_to(request, aa=True, ra=ra)
        for kind, rr in apex.items():
            if qtype in (kind, "ANY"):
                reply.add_answer(rr)
        if not reply.rr:
            reply.add_auth(soa(table, serial))
        return reply
    if not records and not table.exists(name):
        reply = reply_to(request, RCODE.NXDOMAIN, aa=True, ra=ra)
        reply.add_auth(soa(table, serial))
        return reply
    reply = reply_to(request, aa=True, ra=ra)
    matching = [r for r in records if qtype in (r.rtype, "ANY")]
    if not matching:
        matching = _cname_chain(table, records, qtype)
    for record in matching:
        owner = qname if record.name == name else record.name
        reply.add_answer(to_rr(record, owner))
    if not matching:
        reply.add_auth(soa(table, serial))
    for record in matching:
        if record.rtype == "SRV":
            for target in table.lookup(record.value):
                if target.rtype in ("A", "AAAA"):
                    reply.add_ar(to_rr(target))
    return reply


def _cname_chain(table: RecordTable, records: list[Record], qtype: str, limit: int = 8
                 ) -> list[Record]:
    """A CNAME, followed inside the zone (an ExternalName pointing at another Service)."""
    out: list[Record] = []
    while limit > 0:
        cnames = [r for r in records if r.rtype == "CNAME"]
        if not cnames:
            break
        out.append(cnames[0])
        records = table.lookup(cnames[0].value)
        if not table.in_zone(cnames[0].value):
            break
        limit -= 1
    if out and table.in_zone(out[-1].value):
        out += [r for r in records if r.rtype == qtype]
    return out
