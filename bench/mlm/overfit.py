"""PyTorch twin of tests/Pipeline.Training.Tests/Text/MlmOverfitTests.cs: memorise 8 random sentences (tiny pre-LN MLM).
usage: /usr/bin/python3 bench/mlm/overfit.py <lr>   prints: lr first-20-loss last-50-loss (0.01 -> 3.93 0.13 here)"""
import torch, math, random, sys, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(1); torch.manual_seed(1)
V,L,D,H,FF=64,18,32,2,64
r=random.Random(5); docs=[[r.randrange(5,V) for _ in range(L-2)] for _ in range(8)]
ids=torch.tensor([[2]+d+[3] for d in docs]); att=torch.ones_like(ids)
class Block(nn.Module):
    def __init__(s):
        super().__init__(); s.qkv,s.out=nn.Linear(D,3*D),nn.Linear(D,D); s.n1,s.n2=nn.LayerNorm(D,eps=1e-12),nn.LayerNorm(D,eps=1e-12); s.f1,s.f2=nn.Linear(D,FF),nn.Linear(FF,D)
    def forward(s,x):
        b,t,_=x.shape; q,k,v=s.qkv(s.n1(x)).view(b,t,3,H,D//H).permute(2,0,3,1,4)
        a=((q@k.transpose(-2,-1))/math.sqrt(D//H)).softmax(-1)@v
        h=x+s.out(a.transpose(1,2).reshape(b,t,D)); return h+s.f2(F.gelu(s.f1(s.n2(h))))
class M(nn.Module):
    def __init__(s):
        super().__init__(); s.w,s.p=nn.Embedding(V,D),nn.Embedding(L,D); s.b=nn.ModuleList([Block(),Block()]); s.fn=nn.LayerNorm(D,eps=1e-12)
        s.hd,s.hn=nn.Linear(D,D),nn.LayerNorm(D,eps=1e-12); s.bias=nn.Parameter(torch.zeros(V))
        for m in s.modules():
            if isinstance(m,(nn.Linear,nn.Embedding)):
                nn.init.normal_(m.weight,0,0.02)
                if isinstance(m,nn.Linear): nn.init.zeros_(m.bias)
    def forward(s,x,pos):
        x=s.w(x)+s.p(torch.arange(L))[None]
        for b in s.b: x=b(x)
        return F.linear(s.hn(F.gelu(s.hd(s.fn(x).reshape(-1,D)[pos]))),s.w.weight,s.bias)
m=M(); lr=float(sys.argv[1]); steps=600; warm=20
dec=[p for p in m.parameters() if p.dim()>=2]; nod=[p for p in m.parameters() if p.dim()<2]
opt=torch.optim.AdamW([{'params':dec,'weight_decay':0.01},{'params':nod,'weight_decay':0}],lr=lr)
g=torch.Generator().manual_seed(1); losses=[]
for s in range(1,steps+1):
    for gr in opt.param_groups: gr['lr']=lr*s/warm if s<=warm else lr*(1-(s-warm)/(steps-warm))
    elig=ids>=5; ch=(torch.rand(ids.shape,generator=g)<0.15)&elig
    if ch.sum()==0: continue
    rr=torch.rand(ids.shape,generator=g); inp=ids.clone(); inp[ch&(rr<0.8)]=4
    rnd=ch&(rr>=0.8)&(rr<0.9); inp[rnd]=torch.randint(5,V,(int(rnd.sum()),),generator=g)
    pos=ch.view(-1).nonzero().squeeze(1)
    loss=F.cross_entropy(m(inp,pos),ids.view(-1)[pos]); opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(),1.0); opt.step(); losses.append(loss.item())
print(lr, sum(losses[:20])/20, sum(losses[-50:])/50)
