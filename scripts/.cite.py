import re,sys
M={'1':'docs/concepts.md','2':'docs/support-matrix.md','3':'docs/configuration.md','4':'docs/cli.md','5':'docs/architecture.md','6':'docs/testing.md','7':'docs/testing.md'}
def fix(s):
    s=s.replace('(reference/gds.md, "Configuration database and class closure"; DESIGN.md §1)','(GDS: "configuration database and class closure"; docs/concepts.md)')
    s=s.replace('reference/declarative_diskid.md §2.','the VMware disk variants GDS supports (docs/support-matrix.md).')
    s=s.replace('DESIGN.md §6, tier 3','docs/testing.md, the VM tier')
    s=s.replace('DESIGN.md §7 wants:','the targets (docs/testing.md) want:')
    s=s.replace('DESIGN.md §7 memory target','memory target, docs/testing.md')
    s=s.replace('after PRIMECLUSTER GDS 4.5 §3.21.1','after PRIMECLUSTER GDS 4.5 §3.21.1')
    s=s.replace('(seeds/)','(the GDS support document)')
    def rep(m):
        nums=re.findall(r'§(\d)',m.group(0))
        out=[]
        for n in nums:
            d=M[n]
            if d not in out: out.append(d)
        return ', '.join(out)
    s=re.sub(r'DESIGN\.md §\d(?:, §\d)*',rep,s)
    return s
for p in sys.argv[1:]:
    s=open(p).read(); o=fix(s)
    if o!=s: open(p,'w').write(o); print('fixed',p)
