//===- LowerAttention.cpp - The tgraph-lower-attention pass ---------------===//
//
// `tgraph.attention` (dense, causal, or over listed key blocks) becomes a
// flash-attention tile kernel, specialized for the op's shapes, block
// sizes, scale and element type, and a `tgraph.launch` of it over
// (query blocks, batch x heads). The kernel (one program per query block
// and head): load the query block; for each visited key block (all, those
// up to the diagonal, or those the lists name), s = q k^T * scale with
// columns past the keys (and above the diagonal) at -inf, the online
// softmax (running row max m and sum l, rescaling acc by exp(m_old -
// m_new)), acc += p v; out = acc / l (0 for a row that saw no key).
//
// The kernel is written as tile IR text, with the op's sizes in it, and
// parsed into the module: the same ops the DSL's flash attention
// (python/tessera/kernels/attention.py) lowers to, so the tile pipelines
// (CPU, NVIDIA) compile it as they compile that one.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/tgraph/TGraphDialect.h"
#include "dialects/tile/TileDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <map>

namespace tessera {
#define GEN_PASS_DEF_TGRAPHLOWERATTENTION
#include "passes/Passes.h.inc"
} // namespace tessera

using namespace mlir;

namespace {

// Lines starting with a tag are kept only when the tag's condition holds:
// "?S " block-sparse (kv lists), "?D " dense (no lists), "?C " causal, "?N "
// not causal, "?T " a 16-bit element type (p is truncated before P V),
// "?F " f32, "?Q " query lists (rows gathered by position; the pruned rows
// of the block then take the last kept row's output), "?P " no query
// lists, "?B " keys past the end in the last block (N_KV % BN != 0: masked
// loads and scores), "?E " none, "?M " a score mask (causal or ?B), "?U "
// none, "?R " the log-sum-exp is returned too. `$X` placeholders are the op's sizes and types; $BMR is the rows a
// program computes ($BM, or the kept queries' bound with query lists).
// Scores stay unscaled until the row maximum (scale > 0), then one
// s * scale log2(e) - m (an fma) feeds exp2, as the DSL kernel does.
constexpr const char *kTemplate = R"(
func.func @$NAME(%q: !tile.ptr<$E> {tile.divisibility = 16 : i32}, %k: !tile.ptr<$E> {tile.divisibility = 16 : i32}, %v: !tile.ptr<$E> {tile.divisibility = 16 : i32},
?S %idx: !tile.ptr<i32> {tile.divisibility = 16 : i32}, %cnt: !tile.ptr<i32> {tile.divisibility = 16 : i32},
?Q %qi: !tile.ptr<i32> {tile.divisibility = 16 : i32}, %qc: !tile.ptr<i32> {tile.divisibility = 16 : i32},
  %o: !tile.ptr<$E> {tile.divisibility = 16 : i32}
?R , %lse: !tile.ptr<f32> {tile.divisibility = 16 : i32}
  ) {
  %qb = tile.program_id x : i32
  %zh = tile.program_id y : i32
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %cBM = arith.constant $BM : i32
  %cBN = arith.constant $BN : i32
  %cD = arith.constant $D : i32
  %cNQ = arith.constant $NQ : i32
  %cNKV = arith.constant $NKV : i32
  %zf = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %zE = arith.constant 0.000000e+00 : $E
  %scale2 = arith.constant $SCALE2 : f32
  %cQB = arith.constant $QB : i32
?G %cKVROWS = arith.constant $KVROWS : i32
?G %cD64 = arith.constant $D : i64
?G %c1i64 = arith.constant 1 : i64
  %lz = arith.muli %zh, %cQB : i32
  %lid = arith.addi %lz, %qb : i32
  %m0 = arith.muli %qb, %cBM : i32
  %rm = tile.make_range 0 to $BMR : tensor<$BMRxi32>
  %zi = tile.splat %c0 : i32 -> tensor<$BMRxi32>
?Q %cLQ = arith.constant $LQ : i32
?Q %qrowl = arith.muli %lid, %cLQ : i32
?Q %qcp = tile.addptr %qc, %lid : !tile.ptr<i32>, i32
?Q %kept = tile.load %qcp : !tile.ptr<i32>
?Q %keptr = tile.splat %kept : i32 -> tensor<$BMRxi32>
?Q %rok = arith.cmpi slt, %rm, %keptr : tensor<$BMRxi32>
?Q %qib = tile.addptr %qi, %qrowl : !tile.ptr<i32>, i32
?Q %qibs = tile.splat %qib : !tile.ptr<i32> -> tensor<$BMRx!tile.ptr<i32>>
?Q %qip = tile.addptr %qibs, %rm : tensor<$BMRx!tile.ptr<i32>>, tensor<$BMRxi32>
?Q %pos = tile.load %qip, %rok, %zi : tensor<$BMRx!tile.ptr<i32>>
?P %pos = arith.addi %rm, %zi : tensor<$BMRxi32>
  %m0s = tile.splat %m0 : i32 -> tensor<$BMRxi32>
  %offs_m = arith.addi %m0s, %pos : tensor<$BMRxi32>
  %offs_d = tile.make_range 0 to $D : tensor<$Dxi32>
  %om2 = tile.expand_dims %offs_m, axis = 1 : tensor<$BMRxi32> -> tensor<$BMRx1xi32>
  %od2 = tile.expand_dims %offs_d, axis = 0 : tensor<$Dxi32> -> tensor<1x$Dxi32>
  %cDm = tile.splat %cD : i32 -> tensor<$BMRx1xi32>
  %qrow = arith.muli %om2, %cDm : tensor<$BMRx1xi32>
  %qrowb = tile.broadcast %qrow : tensor<$BMRx1xi32> -> tensor<$BMRx$Dxi32>
  %qcolb = tile.broadcast %od2 : tensor<1x$Dxi32> -> tensor<$BMRx$Dxi32>
  %qoffs = arith.addi %qrowb, %qcolb : tensor<$BMRx$Dxi32>
  %cNQm = tile.splat %cNQ : i32 -> tensor<$BMRx1xi32>
  %qok0 = arith.cmpi slt, %om2, %cNQm : tensor<$BMRx1xi32>
?Q %rok2 = tile.expand_dims %rok, axis = 1 : tensor<$BMRxi1> -> tensor<$BMRx1xi1>
?Q %qok = arith.andi %qok0, %rok2 : tensor<$BMRx1xi1>
?P %qok = arith.andi %qok0, %qok0 : tensor<$BMRx1xi1>
  %qmask = tile.broadcast %qok : tensor<$BMRx1xi1> -> tensor<$BMRx$Dxi1>
  %cQH = arith.constant $NQD : i32
  %qhead = arith.muli %zh, %cQH : i32
  %qbase = tile.addptr %q, %qhead : !tile.ptr<$E>, i32
  %qbs = tile.splat %qbase : !tile.ptr<$E> -> tensor<$BMRx$Dx!tile.ptr<$E>>
  %qptr = tile.addptr %qbs, %qoffs : tensor<$BMRx$Dx!tile.ptr<$E>>, tensor<$BMRx$Dxi32>
  %zEq = tile.splat %zE : $E -> tensor<$BMRx$Dx$E>
  %qt = tile.load %qptr, %qmask, %zEq : tensor<$BMRx$Dx!tile.ptr<$E>>
  %cKH = arith.constant $NKVD : i32
  %khead = arith.muli %zh, %cKH : i32
  %kbase = tile.addptr %k, %khead : !tile.ptr<$E>, i32
  %vbase = tile.addptr %v, %khead : !tile.ptr<$E>, i32
  %m_init = tile.splat %ninf : f32 -> tensor<$BMRxf32>
  %l_init = tile.splat %zf : f32 -> tensor<$BMRxf32>
  %acc_init = tile.splat %zf : f32 -> tensor<$BMRx$Dxf32>
@TRIP
  %res:3 = scf.for %j = %c0 to %trip step %c1 iter_args(%l = %l_init, %acc = %acc_init, %m = %m_init) -> (tensor<$BMRxf32>, tensor<$BMRx$Dxf32>, tensor<$BMRxf32>) : i32 {
@KBLOCK
@SOFTMAX
    %vbs = tile.splat %vbase : !tile.ptr<$E> -> tensor<$BNx$Dx!tile.ptr<$E>>
    %vptr = tile.addptr %vbs, %koffs : tensor<$BNx$Dx!tile.ptr<$E>>, tensor<$BNx$Dxi32>
?B   %vt = tile.load %vptr, %kmask, %zEk : tensor<$BNx$Dx!tile.ptr<$E>>
?E ?H   %vt = tile.load %vptr : tensor<$BNx$Dx!tile.ptr<$E>>
?E ?G   %vt = tile.descriptor_load %v[%kvr, %c0] shape [%cKVROWS, %cD] strides [%cD64, %c1i64] : !tile.ptr<$E> -> tensor<$BNx$Dx$E>
?T   %pe = arith.truncf %p : tensor<$BMRx$BNxf32> to tensor<$BMRx$BNx$E>
?F   %pe = arith.addf %p, %zs : tensor<$BMRx$BNxf32>
    %za = tile.splat %zf : f32 -> tensor<$BMRx$Dxf32>
    %pv = tile.dot %pe, %vt, %za : tensor<$BMRx$BNx$E> * tensor<$BNx$Dx$E> -> tensor<$BMRx$Dxf32>
    %al1 = tile.expand_dims %alpha, axis = 1 : tensor<$BMRxf32> -> tensor<$BMRx1xf32>
    %alb = tile.broadcast %al1 : tensor<$BMRx1xf32> -> tensor<$BMRx$Dxf32>
    %accs = arith.mulf %acc, %alb : tensor<$BMRx$Dxf32>
    %accn = arith.addf %accs, %pv : tensor<$BMRx$Dxf32>
    scf.yield %lnew, %accn, %mnew : tensor<$BMRxf32>, tensor<$BMRx$Dxf32>, tensor<$BMRxf32>
  }
  %lf = tile.expand_dims %res#0, axis = 1 : tensor<$BMRxf32> -> tensor<$BMRx1xf32>
  %zl = tile.splat %zf : f32 -> tensor<$BMRx1xf32>
  %seen = arith.cmpf ogt, %lf, %zl : tensor<$BMRx1xf32>
  %seenb = tile.broadcast %seen : tensor<$BMRx1xi1> -> tensor<$BMRx$Dxi1>
  %onel = arith.constant dense<1.000000e+00> : tensor<$BMRx1xf32>
  %rl = arith.divf %onel, %lf : tensor<$BMRx1xf32>
  %rlb = tile.broadcast %rl : tensor<$BMRx1xf32> -> tensor<$BMRx$Dxf32>
  %od = arith.mulf %res#1, %rlb : tensor<$BMRx$Dxf32>
  %zo = tile.splat %zf : f32 -> tensor<$BMRx$Dxf32>
  %of = arith.select %seenb, %od, %zo : tensor<$BMRx$Dxi1>, tensor<$BMRx$Dxf32>
?T  %oe = arith.truncf %of : tensor<$BMRx$Dxf32> to tensor<$BMRx$Dx$E>
?F  %oe = arith.addf %of, %zo : tensor<$BMRx$Dxf32>
  %obase = tile.addptr %o, %qhead : !tile.ptr<$E>, i32
  %obs = tile.splat %obase : !tile.ptr<$E> -> tensor<$BMRx$Dx!tile.ptr<$E>>
  %optr = tile.addptr %obs, %qoffs : tensor<$BMRx$Dx!tile.ptr<$E>>, tensor<$BMRx$Dxi32>
  tile.store %optr, %oe, %qmask : tensor<$BMRx$Dx!tile.ptr<$E>>
?R %onev = arith.constant dense<1.000000e+00> : tensor<$BMRxf32>
?R %zv = tile.splat %zf : f32 -> tensor<$BMRxf32>
?R %seenv = arith.cmpf ogt, %res#0, %zv : tensor<$BMRxf32>
?R %lsafe = arith.select %seenv, %res#0, %onev : tensor<$BMRxi1>, tensor<$BMRxf32>
?R %lg = math.log2 %lsafe : tensor<$BMRxf32>
?R %lse2 = arith.addf %res#2, %lg : tensor<$BMRxf32>
?R %ln2 = arith.constant dense<0.693147182> : tensor<$BMRxf32>
?R %lsen = arith.mulf %lse2, %ln2 : tensor<$BMRxf32>
?R %pinfv = arith.constant dense<0x7F800000> : tensor<$BMRxf32>
?R %lsev = arith.select %seenv, %lsen, %pinfv : tensor<$BMRxi1>, tensor<$BMRxf32>
?R %lsrow = arith.muli %zh, %cNQ : i32
?R %lseb = tile.addptr %lse, %lsrow : !tile.ptr<f32>, i32
?R %lsebs = tile.splat %lseb : !tile.ptr<f32> -> tensor<$BMRx!tile.ptr<f32>>
?R %lsep = tile.addptr %lsebs, %offs_m : tensor<$BMRx!tile.ptr<f32>>, tensor<$BMRxi32>
?R %cNQv = tile.splat %cNQ : i32 -> tensor<$BMRxi32>
?R %lok = arith.cmpi slt, %offs_m, %cNQv : tensor<$BMRxi32>
?R tile.store %lsep, %lsev, %lok : tensor<$BMRx!tile.ptr<f32>>
?Q %c1r = tile.splat %c1 : i32 -> tensor<$BMRxi32>
?Q %lastk = arith.subi %keptr, %c1r : tensor<$BMRxi32>
?Q %islast = arith.cmpi eq, %rm, %lastk : tensor<$BMRxi32>
?Q %isl2 = tile.expand_dims %islast, axis = 1 : tensor<$BMRxi1> -> tensor<$BMRx1xi1>
?Q %islb = tile.broadcast %isl2 : tensor<$BMRx1xi1> -> tensor<$BMRx$Dxi1>
?Q %lastrow = arith.select %islb, %of, %zo : tensor<$BMRx$Dxi1>, tensor<$BMRx$Dxf32>
?Q %proxy = tile.reduce(%lastrow) axis = 0 : (tensor<$BMRx$Dxf32>) -> (tensor<$Dxf32>) {
?Q ^bb0(%w0: f32, %w1: f32):
?Q   %ws = arith.addf %w0, %w1 : f32
?Q   tile.reduce.return %ws : f32
?Q }
?Q %rb = tile.make_range 0 to $BM : tensor<$BMxi32>
?Q %cm1 = arith.constant -1 : i32
?Q %m1r = tile.splat %cm1 : i32 -> tensor<$BMRxi32>
?Q %posk = arith.select %rok, %pos, %m1r : tensor<$BMRxi1>, tensor<$BMRxi32>
?Q %rb2 = tile.expand_dims %rb, axis = 1 : tensor<$BMxi32> -> tensor<$BMx1xi32>
?Q %rbb = tile.broadcast %rb2 : tensor<$BMx1xi32> -> tensor<$BMx$BMRxi32>
?Q %pk2 = tile.expand_dims %posk, axis = 0 : tensor<$BMRxi32> -> tensor<1x$BMRxi32>
?Q %pkb = tile.broadcast %pk2 : tensor<1x$BMRxi32> -> tensor<$BMx$BMRxi32>
?Q %hit = arith.cmpi eq, %rbb, %pkb : tensor<$BMx$BMRxi32>
?Q %ones = arith.constant dense<1> : tensor<$BMx$BMRxi32>
?Q %zeros = arith.constant dense<0> : tensor<$BMx$BMRxi32>
?Q %hits = arith.select %hit, %ones, %zeros : tensor<$BMx$BMRxi1>, tensor<$BMx$BMRxi32>
?Q %nhit = tile.reduce(%hits) axis = 1 : (tensor<$BMx$BMRxi32>) -> (tensor<$BMxi32>) {
?Q ^bb0(%h0: i32, %h1: i32):
?Q   %hs = arith.addi %h0, %h1 : i32
?Q   tile.reduce.return %hs : i32
?Q }
?Q %zb = tile.splat %c0 : i32 -> tensor<$BMxi32>
?Q %pruned = arith.cmpi eq, %nhit, %zb : tensor<$BMxi32>
?Q %m0b = tile.splat %m0 : i32 -> tensor<$BMxi32>
?Q %rows = arith.addi %m0b, %rb : tensor<$BMxi32>
?Q %cNQb = tile.splat %cNQ : i32 -> tensor<$BMxi32>
?Q %inb = arith.cmpi slt, %rows, %cNQb : tensor<$BMxi32>
?Q %fill = arith.andi %pruned, %inb : tensor<$BMxi1>
?Q %fill2 = tile.expand_dims %fill, axis = 1 : tensor<$BMxi1> -> tensor<$BMx1xi1>
?Q %fillb = tile.broadcast %fill2 : tensor<$BMx1xi1> -> tensor<$BMx$Dxi1>
?Q %pr2 = tile.expand_dims %proxy, axis = 0 : tensor<$Dxf32> -> tensor<1x$Dxf32>
?Q %prb = tile.broadcast %pr2 : tensor<1x$Dxf32> -> tensor<$BMx$Dxf32>
?Q ?T %pre = arith.truncf %prb : tensor<$BMx$Dxf32> to tensor<$BMx$Dx$E>
?Q ?F %zbf = tile.splat %zf : f32 -> tensor<$BMx$Dxf32>
?Q ?F %pre = arith.addf %prb, %zbf : tensor<$BMx$Dxf32>
?Q %cDb = tile.splat %cD : i32 -> tensor<$BMx1xi32>
?Q %rows2 = tile.expand_dims %rows, axis = 1 : tensor<$BMxi32> -> tensor<$BMx1xi32>
?Q %frow = arith.muli %rows2, %cDb : tensor<$BMx1xi32>
?Q %frowb = tile.broadcast %frow : tensor<$BMx1xi32> -> tensor<$BMx$Dxi32>
?Q %fcolb = tile.broadcast %od2 : tensor<1x$Dxi32> -> tensor<$BMx$Dxi32>
?Q %foffs = arith.addi %frowb, %fcolb : tensor<$BMx$Dxi32>
?Q %fbs = tile.splat %obase : !tile.ptr<$E> -> tensor<$BMx$Dx!tile.ptr<$E>>
?Q %fptr = tile.addptr %fbs, %foffs : tensor<$BMx$Dx!tile.ptr<$E>>, tensor<$BMx$Dxi32>
?Q tile.store %fptr, %pre, %fillb : tensor<$BMx$Dx!tile.ptr<$E>>
  func.return
}
)";

// Shared by the token selection and the pooling: block b of head zh of x
// (rows of $B tokens of $D values, $N tokens) loaded and widened to f32 as
// %xx ($B x $D; rows past the end 0), with %r, %rows, %valid, %d, %d1,
// %b0 and %zBD defined. Replaces a line "@LOADBLOCK" of a template.
constexpr const char *kLoadBlock = R"(
  %r = tile.make_range 0 to $B : tensor<$Bxi32>
  %b0 = arith.muli %b, %cB : i32
  %b0s = tile.splat %b0 : i32 -> tensor<$Bxi32>
  %rows = arith.addi %b0s, %r : tensor<$Bxi32>
  %cNs = tile.splat %cN : i32 -> tensor<$Bxi32>
  %valid = arith.cmpi slt, %rows, %cNs : tensor<$Bxi32>
  %d = tile.make_range 0 to $D : tensor<$Dxi32>
  %rows1 = tile.expand_dims %rows, axis = 1 : tensor<$Bxi32> -> tensor<$Bx1xi32>
  %cDs = tile.splat %cD : i32 -> tensor<$Bx1xi32>
  %roff = arith.muli %rows1, %cDs : tensor<$Bx1xi32>
  %roffb = tile.broadcast %roff : tensor<$Bx1xi32> -> tensor<$Bx$Dxi32>
  %d1 = tile.expand_dims %d, axis = 0 : tensor<$Dxi32> -> tensor<1x$Dxi32>
  %db = tile.broadcast %d1 : tensor<1x$Dxi32> -> tensor<$Bx$Dxi32>
  %offs = arith.addi %roffb, %db : tensor<$Bx$Dxi32>
  %hoff = arith.muli %zh, %cND : i32
  %xb = tile.addptr %x, %hoff : !tile.ptr<$E>, i32
  %xbs = tile.splat %xb : !tile.ptr<$E> -> tensor<$Bx$Dx!tile.ptr<$E>>
  %xp = tile.addptr %xbs, %offs : tensor<$Bx$Dx!tile.ptr<$E>>, tensor<$Bx$Dxi32>
  %valid1 = tile.expand_dims %valid, axis = 1 : tensor<$Bxi1> -> tensor<$Bx1xi1>
  %vb = tile.broadcast %valid1 : tensor<$Bx1xi1> -> tensor<$Bx$Dxi1>
  %zE = arith.constant 0.000000e+00 : $E
  %zEt = tile.splat %zE : $E -> tensor<$Bx$Dx$E>
  %xe = tile.load %xp, %vb, %zEt : tensor<$Bx$Dx!tile.ptr<$E>>
  %zBD = tile.splat %zf : f32 -> tensor<$Bx$Dxf32>
?X %xx = arith.extf %xe : tensor<$Bx$Dx$E> to tensor<$Bx$Dxf32>
?Y %xx = arith.addf %xe, %zBD : tensor<$Bx$Dxf32>
)";

// tgraph.cube_reorder: one program per BT tokens (in cube order) and BC
// channels of one batch entry; "?I " the inverse (cube order back to
// (t, h, w) order), "?O " the forward direction.
constexpr const char *kCubeTemplate = R"(
func.func @$NAME(%x: !tile.ptr<$E> {tile.divisibility = 16 : i32}, %y: !tile.ptr<$E> {tile.divisibility = 16 : i32}) {
  %pt = tile.program_id x : i32
  %pz = tile.program_id y : i32
  %pc = tile.program_id z : i32
  %cBT = arith.constant $BT : i32
  %cBC = arith.constant $BC : i32
  %cS = arith.constant $S : i32
  %cC = arith.constant $C : i32
  %cSC = arith.constant $SC : i32
  %t0 = arith.muli %pt, %cBT : i32
  %rt = tile.make_range 0 to $BT : tensor<$BTxi32>
  %t0s = tile.splat %t0 : i32 -> tensor<$BTxi32>
  %o = arith.addi %t0s, %rt : tensor<$BTxi32>
  %ch0 = arith.muli %pc, %cBC : i32
  %rc = tile.make_range 0 to $BC : tensor<$BCxi32>
  %ch0s = tile.splat %ch0 : i32 -> tensor<$BCxi32>
  %ch = arith.addi %ch0s, %rc : tensor<$BCxi32>
  %vol = arith.constant dense<$VOL> : tensor<$BTxi32>
  %nhnw = arith.constant dense<$NHNW> : tensor<$BTxi32>
  %chw = arith.constant dense<$CHW> : tensor<$BTxi32>
  %nw = arith.constant dense<$NW> : tensor<$BTxi32>
  %nh = arith.constant dense<$NH> : tensor<$BTxi32>
  %ct = arith.constant dense<$CT> : tensor<$BTxi32>
  %chh = arith.constant dense<$CH> : tensor<$BTxi32>
  %cw = arith.constant dense<$CW> : tensor<$BTxi32>
  %hv = arith.constant dense<$HV> : tensor<$BTxi32>
  %wv = arith.constant dense<$WV> : tensor<$BTxi32>
  %cube = arith.divsi %o, %vol : tensor<$BTxi32>
  %within = arith.remsi %o, %vol : tensor<$BTxi32>
  %ta = arith.divsi %cube, %nhnw : tensor<$BTxi32>
  %tb = arith.muli %ta, %ct : tensor<$BTxi32>
  %tc = arith.divsi %within, %chw : tensor<$BTxi32>
  %t = arith.addi %tb, %tc : tensor<$BTxi32>
  %ha = arith.divsi %cube, %nw : tensor<$BTxi32>
  %hb = arith.remsi %ha, %nh : tensor<$BTxi32>
  %hc = arith.muli %hb, %chh : tensor<$BTxi32>
  %hd = arith.divsi %within, %cw : tensor<$BTxi32>
  %he = arith.remsi %hd, %chh : tensor<$BTxi32>
  %h = arith.addi %hc, %he : tensor<$BTxi32>
  %wa = arith.remsi %cube, %nw : tensor<$BTxi32>
  %wb = arith.muli %wa, %cw : tensor<$BTxi32>
  %wc = arith.remsi %within, %cw : tensor<$BTxi32>
  %w = arith.addi %wb, %wc : tensor<$BTxi32>
  %sa = arith.muli %t, %hv : tensor<$BTxi32>
  %sb = arith.addi %sa, %h : tensor<$BTxi32>
  %sc = arith.muli %sb, %wv : tensor<$BTxi32>
  %src = arith.addi %sc, %w : tensor<$BTxi32>
  %cCt = tile.splat %cC : i32 -> tensor<$BTx1xi32>
  %o1 = tile.expand_dims %o, axis = 1 : tensor<$BTxi32> -> tensor<$BTx1xi32>
  %src1 = tile.expand_dims %src, axis = 1 : tensor<$BTxi32> -> tensor<$BTx1xi32>
  %orow = arith.muli %o1, %cCt : tensor<$BTx1xi32>
  %srow = arith.muli %src1, %cCt : tensor<$BTx1xi32>
  %ch1 = tile.expand_dims %ch, axis = 0 : tensor<$BCxi32> -> tensor<1x$BCxi32>
  %chb = tile.broadcast %ch1 : tensor<1x$BCxi32> -> tensor<$BTx$BCxi32>
  %orowb = tile.broadcast %orow : tensor<$BTx1xi32> -> tensor<$BTx$BCxi32>
  %srowb = tile.broadcast %srow : tensor<$BTx1xi32> -> tensor<$BTx$BCxi32>
  %ooffs = arith.addi %orowb, %chb : tensor<$BTx$BCxi32>
  %soffs = arith.addi %srowb, %chb : tensor<$BTx$BCxi32>
  %cSt = tile.splat %cS : i32 -> tensor<$BTx1xi32>
  %tok = arith.cmpi slt, %o1, %cSt : tensor<$BTx1xi32>
  %cCc = tile.splat %cC : i32 -> tensor<1x$BCxi32>
  %cok = arith.cmpi slt, %ch1, %cCc : tensor<1x$BCxi32>
  %tokb = tile.broadcast %tok : tensor<$BTx1xi1> -> tensor<$BTx$BCxi1>
  %cokb = tile.broadcast %cok : tensor<1x$BCxi1> -> tensor<$BTx$BCxi1>
  %mask = arith.andi %tokb, %cokb : tensor<$BTx$BCxi1>
  %zoff = arith.muli %pz, %cSC : i32
  %xb = tile.addptr %x, %zoff : !tile.ptr<$E>, i32
  %yb = tile.addptr %y, %zoff : !tile.ptr<$E>, i32
  %xbs = tile.splat %xb : !tile.ptr<$E> -> tensor<$BTx$BCx!tile.ptr<$E>>
  %ybs = tile.splat %yb : !tile.ptr<$E> -> tensor<$BTx$BCx!tile.ptr<$E>>
?O %xp = tile.addptr %xbs, %soffs : tensor<$BTx$BCx!tile.ptr<$E>>, tensor<$BTx$BCxi32>
?O %yp = tile.addptr %ybs, %ooffs : tensor<$BTx$BCx!tile.ptr<$E>>, tensor<$BTx$BCxi32>
?I %xp = tile.addptr %xbs, %ooffs : tensor<$BTx$BCx!tile.ptr<$E>>, tensor<$BTx$BCxi32>
?I %yp = tile.addptr %ybs, %soffs : tensor<$BTx$BCx!tile.ptr<$E>>, tensor<$BTx$BCxi32>
  %v = tile.load %xp, %mask : tensor<$BTx$BCx!tile.ptr<$E>>
  tile.store %yp, %v, %mask : tensor<$BTx$BCx!tile.ptr<$E>>
  func.return
}
)";

// tgraph.token_select: one program per block of one head. Cosine
// similarity of each token to the block's centre token (position n / 2 of
// the n tokens the block has); the ceil(keep_ratio x n) least similar are
// listed from least to most similar (ties: lower position first), the
// rest of the list is 0. "?X " a 16-bit element type (widened first).
constexpr const char *kTokenTemplate = R"(
func.func @$NAME(%x: !tile.ptr<$E> {tile.divisibility = 16 : i32}, %index: !tile.ptr<i32> {tile.divisibility = 16 : i32}, %count: !tile.ptr<i32> {tile.divisibility = 16 : i32}) {
  %b = tile.program_id x : i32
  %zh = tile.program_id y : i32
  %c0 = arith.constant 0 : i32
  %c2 = arith.constant 2 : i32
  %cB = arith.constant $B : i32
  %cN = arith.constant $N : i32
  %cD = arith.constant $D : i32
  %cND = arith.constant $ND : i32
  %cNB = arith.constant $NB : i32
  %cL = arith.constant $L : i32
  %zf = arith.constant 0.000000e+00 : f32
  %eps = arith.constant 9.999999960e-13 : f32
  %pinf = arith.constant 0x7F800000 : f32
  %ratio = arith.constant $RATIO : f32
  @LOADBLOCK
  %left = arith.subi %cN, %b0 : i32
  %n = arith.minsi %left, %cB : i32
  %half = arith.divsi %n, %c2 : i32
  %halfs = tile.splat %half : i32 -> tensor<$Bxi32>
  %isc = arith.cmpi eq, %r, %halfs : tensor<$Bxi32>
  %isc1 = tile.expand_dims %isc, axis = 1 : tensor<$Bxi1> -> tensor<$Bx1xi1>
  %iscb = tile.broadcast %isc1 : tensor<$Bx1xi1> -> tensor<$Bx$Dxi1>
  %crow = arith.select %iscb, %xx, %zBD : tensor<$Bx$Dxi1>, tensor<$Bx$Dxf32>
  %centre = tile.reduce(%crow) axis = 0 : (tensor<$Bx$Dxf32>) -> (tensor<$Dxf32>) {
  ^bb0(%a0: f32, %a1: f32):
    %as = arith.addf %a0, %a1 : f32
    tile.reduce.return %as : f32
  }
  %sq = arith.mulf %xx, %xx : tensor<$Bx$Dxf32>
  %sqs = tile.reduce(%sq) axis = 1 : (tensor<$Bx$Dxf32>) -> (tensor<$Bxf32>) {
  ^bb0(%e0: f32, %e1: f32):
    %es = arith.addf %e0, %e1 : f32
    tile.reduce.return %es : f32
  }
  %nx = math.sqrt %sqs : tensor<$Bxf32>
  %cc = arith.mulf %centre, %centre : tensor<$Dxf32>
  %ccs = tile.reduce(%cc) axis = 0 : (tensor<$Dxf32>) -> (f32) {
  ^bb0(%g0: f32, %g1: f32):
    %gs = arith.addf %g0, %g1 : f32
    tile.reduce.return %gs : f32
  }
  %nc = math.sqrt %ccs : f32
  %ncs = tile.splat %nc : f32 -> tensor<$Bxf32>
  %nn = arith.mulf %nx, %ncs : tensor<$Bxf32>
  %epss = tile.splat %eps : f32 -> tensor<$Bxf32>
  %norm = arith.addf %nn, %epss : tensor<$Bxf32>
  %c1 = tile.expand_dims %centre, axis = 0 : tensor<$Dxf32> -> tensor<1x$Dxf32>
  %cb = tile.broadcast %c1 : tensor<1x$Dxf32> -> tensor<$Bx$Dxf32>
  %xc = arith.mulf %xx, %cb : tensor<$Bx$Dxf32>
  %dots = tile.reduce(%xc) axis = 1 : (tensor<$Bx$Dxf32>) -> (tensor<$Bxf32>) {
  ^bb0(%k0: f32, %k1: f32):
    %ks = arith.addf %k0, %k1 : f32
    tile.reduce.return %ks : f32
  }
  %cos = arith.divf %dots, %norm : tensor<$Bxf32>
  %pinfs = tile.splat %pinf : f32 -> tensor<$Bxf32>
  %sim = arith.select %valid, %cos, %pinfs : tensor<$Bxi1>, tensor<$Bxf32>
  %si1 = tile.expand_dims %sim, axis = 1 : tensor<$Bxf32> -> tensor<$Bx1xf32>
  %sj1 = tile.expand_dims %sim, axis = 0 : tensor<$Bxf32> -> tensor<1x$Bxf32>
  %si = tile.broadcast %si1 : tensor<$Bx1xf32> -> tensor<$Bx$Bxf32>
  %sj = tile.broadcast %sj1 : tensor<1x$Bxf32> -> tensor<$Bx$Bxf32>
  %ri1 = tile.expand_dims %r, axis = 1 : tensor<$Bxi32> -> tensor<$Bx1xi32>
  %rj1 = tile.expand_dims %r, axis = 0 : tensor<$Bxi32> -> tensor<1x$Bxi32>
  %ri = tile.broadcast %ri1 : tensor<$Bx1xi32> -> tensor<$Bx$Bxi32>
  %rj = tile.broadcast %rj1 : tensor<1x$Bxi32> -> tensor<$Bx$Bxi32>
  %less = arith.cmpf olt, %sj, %si : tensor<$Bx$Bxf32>
  %same = arith.cmpf oeq, %sj, %si : tensor<$Bx$Bxf32>
  %lower = arith.cmpi slt, %rj, %ri : tensor<$Bx$Bxi32>
  %tie = arith.andi %same, %lower : tensor<$Bx$Bxi1>
  %before = arith.ori %less, %tie : tensor<$Bx$Bxi1>
  %one = arith.constant dense<1> : tensor<$Bx$Bxi32>
  %zero = arith.constant dense<0> : tensor<$Bx$Bxi32>
  %bi = arith.select %before, %one, %zero : tensor<$Bx$Bxi1>, tensor<$Bx$Bxi32>
  %rank = tile.reduce(%bi) axis = 1 : (tensor<$Bx$Bxi32>) -> (tensor<$Bxi32>) {
  ^bb0(%m0: i32, %m1: i32):
    %ms = arith.addi %m0, %m1 : i32
    tile.reduce.return %ms : i32
  }
  %nf = arith.sitofp %n : i32 to f32
  %kf = arith.mulf %ratio, %nf : f32
  %kc = math.ceil %kf : f32
  %keep = arith.fptosi %kc : f32 to i32
  %j = tile.make_range 0 to $LP : tensor<$LPxi32>
  %j1 = tile.expand_dims %j, axis = 1 : tensor<$LPxi32> -> tensor<$LPx1xi32>
  %jb = tile.broadcast %j1 : tensor<$LPx1xi32> -> tensor<$LPx$Bxi32>
  %rk1 = tile.expand_dims %rank, axis = 0 : tensor<$Bxi32> -> tensor<1x$Bxi32>
  %rkb = tile.broadcast %rk1 : tensor<1x$Bxi32> -> tensor<$LPx$Bxi32>
  %va1 = tile.expand_dims %valid, axis = 0 : tensor<$Bxi1> -> tensor<1x$Bxi1>
  %vab = tile.broadcast %va1 : tensor<1x$Bxi1> -> tensor<$LPx$Bxi1>
  %rr1 = tile.expand_dims %r, axis = 0 : tensor<$Bxi32> -> tensor<1x$Bxi32>
  %rrb = tile.broadcast %rr1 : tensor<1x$Bxi32> -> tensor<$LPx$Bxi32>
  %at = arith.cmpi eq, %rkb, %jb : tensor<$LPx$Bxi32>
  %atv = arith.andi %at, %vab : tensor<$LPx$Bxi1>
  %zLB = arith.constant dense<0> : tensor<$LPx$Bxi32>
  %pick = arith.select %atv, %rrb, %zLB : tensor<$LPx$Bxi1>, tensor<$LPx$Bxi32>
  %slot = tile.reduce(%pick) axis = 1 : (tensor<$LPx$Bxi32>) -> (tensor<$LPxi32>) {
  ^bb0(%p0: i32, %p1: i32):
    %ps = arith.addi %p0, %p1 : i32
    tile.reduce.return %ps : i32
  }
  %keeps = tile.splat %keep : i32 -> tensor<$LPxi32>
  %kept = arith.cmpi slt, %j, %keeps : tensor<$LPxi32>
  %zL = arith.constant dense<0> : tensor<$LPxi32>
  %entry = arith.select %kept, %slot, %zL : tensor<$LPxi1>, tensor<$LPxi32>
  %lrow = arith.muli %zh, %cNB : i32
  %lid = arith.addi %lrow, %b : i32
  %loff = arith.muli %lid, %cL : i32
  %ib = tile.addptr %index, %loff : !tile.ptr<i32>, i32
  %ibs = tile.splat %ib : !tile.ptr<i32> -> tensor<$LPx!tile.ptr<i32>>
  %ip = tile.addptr %ibs, %j : tensor<$LPx!tile.ptr<i32>>, tensor<$LPxi32>
  %cLs = tile.splat %cL : i32 -> tensor<$LPxi32>
  %inl = arith.cmpi slt, %j, %cLs : tensor<$LPxi32>
  tile.store %ip, %entry, %inl : tensor<$LPx!tile.ptr<i32>>
  %cp = tile.addptr %count, %lid : !tile.ptr<i32>, i32
  tile.store %cp, %keep : !tile.ptr<i32>
  func.return
}
)";

// tgraph.block_select, first the mean pooling of q's and k's blocks (one
// program per block of a head, f32 out), then the pooled scores (64 x 64
// tiles, tf32x3 products), then the selection (one program per query
// block of a head): softmax over the key blocks, then how many blocks n it
// keeps (the fewest, highest first with ties at the lower index, whose
// mass reaches p ("?M "), or those above mean + k std ("?K "); at least
// min_blocks, at most L), then its n highest: both from bisections over
// the probabilities' bit patterns (non-negative floats order as their bits
// do), 31 steps of one reduction each; with top-p, when neither bound
// clamps n, the first bisection's threshold is the n-th highest value and
// the second is skipped ("?S "). With at most 32 kept blocks (L) the
// bisections give way to rounds ("?R "): the highest remaining block (ties
// to the lower) one max reduction at a time, while fewer than min_blocks
// are kept or the mass is short of p, or up to the threshold's count; at
// most L. The kept blocks are listed in
// increasing order, the lists' unused entries -1. "?X " 16-bit input.
constexpr const char *kPoolTemplate = R"(
func.func @$NAME(%x: !tile.ptr<$E> {tile.divisibility = 16 : i32}, %out: !tile.ptr<f32> {tile.divisibility = 16 : i32}) {
  %b = tile.program_id x : i32
  %zh = tile.program_id y : i32
  %cB = arith.constant $B : i32
  %cN = arith.constant $N : i32
  %cD = arith.constant $D : i32
  %cND = arith.constant $ND : i32
  %cNB = arith.constant $NB : i32
  %zf = arith.constant 0.000000e+00 : f32
  @LOADBLOCK
  %sum = tile.reduce(%xx) axis = 0 : (tensor<$Bx$Dxf32>) -> (tensor<$Dxf32>) {
  ^bb0(%a0: f32, %a1: f32):
    %as = arith.addf %a0, %a1 : f32
    tile.reduce.return %as : f32
  }
  %left = arith.subi %cN, %b0 : i32
  %n = arith.minsi %left, %cB : i32
  %nf = arith.sitofp %n : i32 to f32
  %nfs = tile.splat %nf : f32 -> tensor<$Dxf32>
  %mean = arith.divf %sum, %nfs : tensor<$Dxf32>
  %orow = arith.muli %zh, %cNB : i32
  %orow2 = arith.addi %orow, %b : i32
  %ooff = arith.muli %orow2, %cD : i32
  %ob = tile.addptr %out, %ooff : !tile.ptr<f32>, i32
  %obs = tile.splat %ob : !tile.ptr<f32> -> tensor<$Dx!tile.ptr<f32>>
  %op = tile.addptr %obs, %d : tensor<$Dx!tile.ptr<f32>>, tensor<$Dxi32>
  tile.store %op, %mean : tensor<$Dx!tile.ptr<f32>>
  func.return
}
)";

constexpr const char *kScoresTemplate = R"(
func.func @$NAME(%qp: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %kp: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %scores: !tile.ptr<f32> {tile.divisibility = 16 : i32}) {
  %pm = tile.program_id x : i32
  %pn = tile.program_id y : i32
  %zh = tile.program_id z : i32
  %c64 = arith.constant 64 : i32
  %cD = arith.constant $D : i32
  %cQB = arith.constant $QB : i32
  %cKB = arith.constant $KB : i32
  %zf = arith.constant 0.000000e+00 : f32
  %scale = arith.constant $SCALE : f32
  %r = tile.make_range 0 to 64 : tensor<64xi32>
  %d = tile.make_range 0 to $D : tensor<$Dxi32>
  %d1 = tile.expand_dims %d, axis = 0 : tensor<$Dxi32> -> tensor<1x$Dxi32>
  %db = tile.broadcast %d1 : tensor<1x$Dxi32> -> tensor<64x$Dxi32>
  %cDs = tile.splat %cD : i32 -> tensor<64x1xi32>
  %zt = tile.splat %zf : f32 -> tensor<64x$Dxf32>
  %m0 = arith.muli %pm, %c64 : i32
  %m0s = tile.splat %m0 : i32 -> tensor<64xi32>
  %rows = arith.addi %m0s, %r : tensor<64xi32>
  %rows1 = tile.expand_dims %rows, axis = 1 : tensor<64xi32> -> tensor<64x1xi32>
  %qro = arith.muli %rows1, %cDs : tensor<64x1xi32>
  %qrob = tile.broadcast %qro : tensor<64x1xi32> -> tensor<64x$Dxi32>
  %qoffs = arith.addi %qrob, %db : tensor<64x$Dxi32>
  %cQBs = tile.splat %cQB : i32 -> tensor<64x1xi32>
  %rok = arith.cmpi slt, %rows1, %cQBs : tensor<64x1xi32>
  %rokb = tile.broadcast %rok : tensor<64x1xi1> -> tensor<64x$Dxi1>
  %qhead0 = arith.muli %zh, %cQB : i32
  %qhead = arith.muli %qhead0, %cD : i32
  %qb0 = tile.addptr %qp, %qhead : !tile.ptr<f32>, i32
  %qbs = tile.splat %qb0 : !tile.ptr<f32> -> tensor<64x$Dx!tile.ptr<f32>>
  %qptr = tile.addptr %qbs, %qoffs : tensor<64x$Dx!tile.ptr<f32>>, tensor<64x$Dxi32>
  %qt = tile.load %qptr, %rokb, %zt : tensor<64x$Dx!tile.ptr<f32>>
  %n0 = arith.muli %pn, %c64 : i32
  %n0s = tile.splat %n0 : i32 -> tensor<64xi32>
  %cols = arith.addi %n0s, %r : tensor<64xi32>
  %cols1 = tile.expand_dims %cols, axis = 1 : tensor<64xi32> -> tensor<64x1xi32>
  %kro = arith.muli %cols1, %cDs : tensor<64x1xi32>
  %krob = tile.broadcast %kro : tensor<64x1xi32> -> tensor<64x$Dxi32>
  %koffs = arith.addi %krob, %db : tensor<64x$Dxi32>
  %cKBs = tile.splat %cKB : i32 -> tensor<64x1xi32>
  %cok = arith.cmpi slt, %cols1, %cKBs : tensor<64x1xi32>
  %cokb = tile.broadcast %cok : tensor<64x1xi1> -> tensor<64x$Dxi1>
  %khead0 = arith.muli %zh, %cKB : i32
  %khead = arith.muli %khead0, %cD : i32
  %kb0 = tile.addptr %kp, %khead : !tile.ptr<f32>, i32
  %kbs = tile.splat %kb0 : !tile.ptr<f32> -> tensor<64x$Dx!tile.ptr<f32>>
  %kptr = tile.addptr %kbs, %koffs : tensor<64x$Dx!tile.ptr<f32>>, tensor<64x$Dxi32>
  %kt = tile.load %kptr, %cokb, %zt : tensor<64x$Dx!tile.ptr<f32>>
  %ktt = tile.trans %kt, order = [1, 0] : tensor<64x$Dxf32> -> tensor<$Dx64xf32>
  %zs = tile.splat %zf : f32 -> tensor<64x64xf32>
  %s0 = tile.dot %qt, %ktt, %zs, precision = tf32x3 : tensor<64x$Dxf32> * tensor<$Dx64xf32> -> tensor<64x64xf32>
  %scs = tile.splat %scale : f32 -> tensor<64x64xf32>
  %s = arith.mulf %s0, %scs : tensor<64x64xf32>
  %cKBr = tile.splat %cKB : i32 -> tensor<64x1xi32>
  %srow = arith.muli %rows1, %cKBr : tensor<64x1xi32>
  %srowb = tile.broadcast %srow : tensor<64x1xi32> -> tensor<64x64xi32>
  %cols0 = tile.expand_dims %cols, axis = 0 : tensor<64xi32> -> tensor<1x64xi32>
  %colsb = tile.broadcast %cols0 : tensor<1x64xi32> -> tensor<64x64xi32>
  %soffs = arith.addi %srowb, %colsb : tensor<64x64xi32>
  %rokr = tile.broadcast %rok : tensor<64x1xi1> -> tensor<64x64xi1>
  %cKBc = tile.splat %cKB : i32 -> tensor<1x64xi32>
  %cokc = arith.cmpi slt, %cols0, %cKBc : tensor<1x64xi32>
  %cokcb = tile.broadcast %cokc : tensor<1x64xi1> -> tensor<64x64xi1>
  %smask = arith.andi %rokr, %cokcb : tensor<64x64xi1>
  %shead0 = arith.muli %zh, %cQB : i32
  %shead = arith.muli %shead0, %cKB : i32
  %sb0 = tile.addptr %scores, %shead : !tile.ptr<f32>, i32
  %sbs = tile.splat %sb0 : !tile.ptr<f32> -> tensor<64x64x!tile.ptr<f32>>
  %sptr = tile.addptr %sbs, %soffs : tensor<64x64x!tile.ptr<f32>>, tensor<64x64xi32>
  tile.store %sptr, %s, %smask : tensor<64x64x!tile.ptr<f32>>
  func.return
}
)";

constexpr const char *kSelectTemplate = R"(
func.func @$NAME(%scores: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %index: !tile.ptr<i32> {tile.divisibility = 16 : i32}, %count: !tile.ptr<i32> {tile.divisibility = 16 : i32}) {
  %qb = tile.program_id x : i32
  %zh = tile.program_id y : i32
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c2 = arith.constant 2 : i32
  %c31 = arith.constant 31 : i32
  %cQB = arith.constant $QB : i32
  %cKB = arith.constant $KB : i32
  %cL = arith.constant $L : i32
  %cMIN = arith.constant $MIN : i32
  %top = arith.constant 1065353217 : i32
  %zf = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %mone = arith.constant -1.000000e+00 : f32
  %param = arith.constant $PARAM : f32
  %lid0 = arith.muli %zh, %cQB : i32
  %lid = arith.addi %lid0, %qb : i32
  %soff = arith.muli %lid, %cKB : i32
  %sb = tile.addptr %scores, %soff : !tile.ptr<f32>, i32
  %kbs = tile.make_range 0 to $KBP : tensor<$KBPxi32>
  %cKBs = tile.splat %cKB : i32 -> tensor<$KBPxi32>
  %valid = arith.cmpi slt, %kbs, %cKBs : tensor<$KBPxi32>
  %sbs = tile.splat %sb : !tile.ptr<f32> -> tensor<$KBPx!tile.ptr<f32>>
  %sptr = tile.addptr %sbs, %kbs : tensor<$KBPx!tile.ptr<f32>>, tensor<$KBPxi32>
  %ninfs = tile.splat %ninf : f32 -> tensor<$KBPxf32>
  %s = tile.load %sptr, %valid, %ninfs : tensor<$KBPx!tile.ptr<f32>>
  %smax = tile.reduce(%s) axis = 0 : (tensor<$KBPxf32>) -> (f32) {
  ^bb0(%b0: f32, %b1: f32):
    %bm = arith.maxnumf %b0, %b1 : f32
    tile.reduce.return %bm : f32
  }
  %smaxs = tile.splat %smax : f32 -> tensor<$KBPxf32>
  %sd = arith.subf %s, %smaxs : tensor<$KBPxf32>
  %e0 = math.exp %sd : tensor<$KBPxf32>
  %zK = tile.splat %zf : f32 -> tensor<$KBPxf32>
  %e = arith.select %valid, %e0, %zK : tensor<$KBPxi1>, tensor<$KBPxf32>
  %total = tile.reduce(%e) axis = 0 : (tensor<$KBPxf32>) -> (f32) {
  ^bb0(%c0_: f32, %c1_: f32):
    %cs = arith.addf %c0_, %c1_ : f32
    tile.reduce.return %cs : f32
  }
  %totals = tile.splat %total : f32 -> tensor<$KBPxf32>
  %prob = arith.divf %e, %totals : tensor<$KBPxf32>
  %mones = tile.splat %mone : f32 -> tensor<$KBPxf32>
  %pm = arith.select %valid, %prob, %mones : tensor<$KBPxi1>, tensor<$KBPxf32>
  %bits = arith.bitcast %pm : tensor<$KBPxf32> to tensor<$KBPxi32>
  %oneK = arith.constant dense<1> : tensor<$KBPxi32>
  %zeroK = arith.constant dense<0> : tensor<$KBPxi32>
?S ?M %b1:2 = scf.for %it = %c0 to %c31 step %c1 iter_args(%lo = %c0, %hi = %top) -> (i32, i32) : i32 {
?S ?M   %span = arith.subi %hi, %lo : i32
?S ?M   %half = arith.divsi %span, %c2 : i32
?S ?M   %mid = arith.addi %lo, %half : i32
?S ?M   %mids = tile.splat %mid : i32 -> tensor<$KBPxi32>
?S ?M   %ge = arith.cmpi sge, %bits, %mids : tensor<$KBPxi32>
?S ?M   %pge = arith.select %ge, %prob, %zK : tensor<$KBPxi1>, tensor<$KBPxf32>
?S ?M   %mge = tile.reduce(%pge) axis = 0 : (tensor<$KBPxf32>) -> (f32) {
?S ?M   ^bb0(%x0: f32, %x1: f32):
?S ?M     %xs = arith.addf %x0, %x1 : f32
?S ?M     tile.reduce.return %xs : f32
?S ?M   }
?S ?M   %ok_ = arith.cmpf oge, %mge, %param : f32
?S ?M   %lo2 = arith.select %ok_, %mid, %lo : i32
?S ?M   %hi2 = arith.select %ok_, %hi, %mid : i32
?S ?M   scf.yield %lo2, %hi2 : i32, i32
?S ?M }
?S ?M %tb = tile.splat %b1#0 : i32 -> tensor<$KBPxi32>
?S ?M %above = arith.cmpi sgt, %bits, %tb : tensor<$KBPxi32>
?S ?M %pab = arith.select %above, %prob, %zK : tensor<$KBPxi1>, tensor<$KBPxf32>
?S ?M %mabove = tile.reduce(%pab) axis = 0 : (tensor<$KBPxf32>) -> (f32) {
?S ?M ^bb0(%y0: f32, %y1: f32):
?S ?M   %ys = arith.addf %y0, %y1 : f32
?S ?M   tile.reduce.return %ys : f32
?S ?M }
?S ?M %atT = arith.cmpi eq, %bits, %tb : tensor<$KBPxi32>
?S ?M %tie = arith.select %atT, %oneK, %zeroK : tensor<$KBPxi1>, tensor<$KBPxi32>
?S ?M %tiec = tile.scan(%tie) axis = 0 : (tensor<$KBPxi32>) -> (tensor<$KBPxi32>) {
?S ?M ^bb0(%w0: i32, %w1: i32):
?S ?M   %ws = arith.addi %w0, %w1 : i32
?S ?M   tile.reduce.return %ws : i32
?S ?M }
?S ?M %tieb = arith.subi %tiec, %tie : tensor<$KBPxi32>
?S ?M %tval = arith.bitcast %b1#0 : i32 to f32
?S ?M %tiebf = arith.sitofp %tieb : tensor<$KBPxi32> to tensor<$KBPxf32>
?S ?M %tvals = tile.splat %tval : f32 -> tensor<$KBPxf32>
?S ?M %tm = arith.mulf %tiebf, %tvals : tensor<$KBPxf32>
?S ?M %mabs = tile.splat %mabove : f32 -> tensor<$KBPxf32>
?S ?M %bef = arith.addf %mabs, %tm : tensor<$KBPxf32>
?S ?M %params = tile.splat %param : f32 -> tensor<$KBPxf32>
?S ?M %under = arith.cmpf olt, %bef, %params : tensor<$KBPxf32>
?S ?M %tk = arith.andi %atT, %under : tensor<$KBPxi1>
?S ?M %nk = arith.ori %above, %tk : tensor<$KBPxi1>
?S ?M %nki = arith.select %nk, %oneK, %zeroK : tensor<$KBPxi1>, tensor<$KBPxi32>
?S ?M %n0 = tile.reduce(%nki) axis = 0 : (tensor<$KBPxi32>) -> (i32) {
?S ?M ^bb0(%v0: i32, %v1: i32):
?S ?M   %vs = arith.addi %v0, %v1 : i32
?S ?M   tile.reduce.return %vs : i32
?S ?M }
?K %pv = arith.select %valid, %prob, %zK : tensor<$KBPxi1>, tensor<$KBPxf32>
?K %psum = tile.reduce(%pv) axis = 0 : (tensor<$KBPxf32>) -> (f32) {
?K ^bb0(%g0: f32, %g1: f32):
?K   %gs = arith.addf %g0, %g1 : f32
?K   tile.reduce.return %gs : f32
?K }
?K %kbf = arith.constant $KBF : f32
?K %mean = arith.divf %psum, %kbf : f32
?K %means = tile.splat %mean : f32 -> tensor<$KBPxf32>
?K %dev0 = arith.subf %prob, %means : tensor<$KBPxf32>
?K %dev = arith.select %valid, %dev0, %zK : tensor<$KBPxi1>, tensor<$KBPxf32>
?K %dev2 = arith.mulf %dev, %dev : tensor<$KBPxf32>
?K %vsum = tile.reduce(%dev2) axis = 0 : (tensor<$KBPxf32>) -> (f32) {
?K ^bb0(%h0: f32, %h1: f32):
?K   %hs = arith.addf %h0, %h1 : f32
?K   tile.reduce.return %hs : f32
?K }
?K %var = arith.divf %vsum, %kbf : f32
?K %std = math.sqrt %var : f32
?K %ps = arith.mulf %param, %std : f32
?K %cut = arith.addf %mean, %ps : f32
?K %cuts = tile.splat %cut : f32 -> tensor<$KBPxf32>
?K %above0 = arith.cmpf ogt, %prob, %cuts : tensor<$KBPxf32>
?K %abv = arith.andi %above0, %valid : tensor<$KBPxi1>
?K %ab = arith.select %abv, %oneK, %zeroK : tensor<$KBPxi1>, tensor<$KBPxi32>
?K %n0 = tile.reduce(%ab) axis = 0 : (tensor<$KBPxi32>) -> (i32) {
?K ^bb0(%i0: i32, %i1: i32):
?K   %is = arith.addi %i0, %i1 : i32
?K   tile.reduce.return %is : i32
?K }
?R ?M %n0 = arith.addi %cL, %c0 : i32
  %n1 = arith.maxsi %n0, %cMIN : i32
  %n = arith.minsi %n1, %cL : i32
?S ?M %free = arith.cmpi eq, %n, %n0 : i32
?S ?M %tnext = arith.addi %b1#0, %c1 : i32
?S ?M %lo0 = arith.select %free, %b1#0, %c0 : i32
?S ?M %hi0 = arith.select %free, %tnext, %top : i32
?S ?M %steps = arith.select %free, %c0, %c31 : i32
?S ?K %lo0 = arith.addi %c0, %c0 : i32
?S ?K %hi0 = arith.addi %top, %c0 : i32
?S ?K %steps = arith.addi %c31, %c0 : i32
?S   %b2:2 = scf.for %it2 = %c0 to %steps step %c1 iter_args(%lo_ = %lo0, %hi_ = %hi0) -> (i32, i32) : i32 {
?S     %span2 = arith.subi %hi_, %lo_ : i32
?S     %half2 = arith.divsi %span2, %c2 : i32
?S     %mid2 = arith.addi %lo_, %half2 : i32
?S     %mid2s = tile.splat %mid2 : i32 -> tensor<$KBPxi32>
?S     %ge2 = arith.cmpi sge, %bits, %mid2s : tensor<$KBPxi32>
?S     %cge = arith.select %ge2, %oneK, %zeroK : tensor<$KBPxi1>, tensor<$KBPxi32>
?S     %nge = tile.reduce(%cge) axis = 0 : (tensor<$KBPxi32>) -> (i32) {
?S     ^bb0(%z0: i32, %z1: i32):
?S       %zs = arith.addi %z0, %z1 : i32
?S       tile.reduce.return %zs : i32
?S     }
?S     %enough = arith.cmpi sge, %nge, %n : i32
?S     %lo3 = arith.select %enough, %mid2, %lo_ : i32
?S     %hi3 = arith.select %enough, %hi_, %mid2 : i32
?S     scf.yield %lo3, %hi3 : i32, i32
?S   }
?S   %vb = tile.splat %b2#0 : i32 -> tensor<$KBPxi32>
?S   %abv2 = arith.cmpi sgt, %bits, %vb : tensor<$KBPxi32>
?S   %ab2 = arith.select %abv2, %oneK, %zeroK : tensor<$KBPxi1>, tensor<$KBPxi32>
?S   %nab = tile.reduce(%ab2) axis = 0 : (tensor<$KBPxi32>) -> (i32) {
?S   ^bb0(%e0_: i32, %e1_: i32):
?S     %es = arith.addi %e0_, %e1_ : i32
?S     tile.reduce.return %es : i32
?S   }
?S   %room = arith.subi %n, %nab : i32
?S   %atV = arith.cmpi eq, %bits, %vb : tensor<$KBPxi32>
?S   %tie2 = arith.select %atV, %oneK, %zeroK : tensor<$KBPxi1>, tensor<$KBPxi32>
?S   %tie2c = tile.scan(%tie2) axis = 0 : (tensor<$KBPxi32>) -> (tensor<$KBPxi32>) {
?S   ^bb0(%t0: i32, %t1: i32):
?S     %ts = arith.addi %t0, %t1 : i32
?S     tile.reduce.return %ts : i32
?S   }
?S   %tie2b = arith.subi %tie2c, %tie2 : tensor<$KBPxi32>
?S   %rooms = tile.splat %room : i32 -> tensor<$KBPxi32>
?S   %fits = arith.cmpi slt, %tie2b, %rooms : tensor<$KBPxi32>
?S   %tk2 = arith.andi %atV, %fits : tensor<$KBPxi1>
?S   %keep0 = arith.ori %abv2, %tk2 : tensor<$KBPxi1>
?S   %keep = arith.andi %keep0, %valid : tensor<$KBPxi1>
?S   %kept = arith.select %keep, %oneK, %zeroK : tensor<$KBPxi1>, tensor<$KBPxi32>
?R %rest0 = arith.select %valid, %prob, %mones : tensor<$KBPxi1>, tensor<$KBPxf32>
?R %rr:4 = scf.while (%rest = %rest0, %kacc = %zeroK, %mass_ = %zf, %nk = %c0) : (tensor<$KBPxf32>, tensor<$KBPxi32>, f32, i32) -> (tensor<$KBPxf32>, tensor<$KBPxi32>, f32, i32) {
?R   %more = arith.cmpi slt, %nk, %n : i32
?R ?M   %few = arith.cmpi slt, %nk, %cMIN : i32
?R ?M   %short = arith.cmpf olt, %mass_, %param : f32
?R ?M   %either = arith.ori %few, %short : i1
?R ?M   %go = arith.andi %more, %either : i1
?R ?K   %go = arith.andi %more, %more : i1
?R   scf.condition(%go) %rest, %kacc, %mass_, %nk : tensor<$KBPxf32>, tensor<$KBPxi32>, f32, i32
?R } do {
?R ^bb0(%rest_: tensor<$KBPxf32>, %kacc_: tensor<$KBPxi32>, %mass2: f32, %nk_: i32):
?R   %best:2 = tile.reduce(%rest_, %kbs) axis = 0 : (tensor<$KBPxf32>, tensor<$KBPxi32>) -> (f32, i32) {
?R   ^bb0(%u0: f32, %u1: i32, %u2: f32, %u3: i32):
?R     %gt = arith.cmpf ogt, %u0, %u2 : f32
?R     %eqv = arith.cmpf oeq, %u0, %u2 : f32
?R     %lower = arith.cmpi slt, %u1, %u3 : i32
?R     %tielow = arith.andi %eqv, %lower : i1
?R     %first = arith.ori %gt, %tielow : i1
?R     %bv = arith.select %first, %u0, %u2 : f32
?R     %bi = arith.select %first, %u1, %u3 : i32
?R     tile.reduce.return %bv, %bi : f32, i32
?R   }
?R   %bis = tile.splat %best#1 : i32 -> tensor<$KBPxi32>
?R   %isb = arith.cmpi eq, %kbs, %bis : tensor<$KBPxi32>
?R   %rest2 = arith.select %isb, %mones, %rest_ : tensor<$KBPxi1>, tensor<$KBPxf32>
?R   %kacc2 = arith.select %isb, %oneK, %kacc_ : tensor<$KBPxi1>, tensor<$KBPxi32>
?R   %mass3 = arith.addf %mass2, %best#0 : f32
?R   %nk2 = arith.addi %nk_, %c1 : i32
?R   scf.yield %rest2, %kacc2, %mass3, %nk2 : tensor<$KBPxf32>, tensor<$KBPxi32>, f32, i32
?R }
?R %kept = arith.addi %rr#1, %zeroK : tensor<$KBPxi32>
?R %keep = arith.cmpi sgt, %kept, %zeroK : tensor<$KBPxi32>
  %keptc = tile.scan(%kept) axis = 0 : (tensor<$KBPxi32>) -> (tensor<$KBPxi32>) {
  ^bb0(%k0: i32, %k1: i32):
    %ks = arith.addi %k0, %k1 : i32
    tile.reduce.return %ks : i32
  }
  %pos = arith.subi %keptc, %kept : tensor<$KBPxi32>
  %loff = arith.muli %lid, %cL : i32
  %ib = tile.addptr %index, %loff : !tile.ptr<i32>, i32
  %ibs = tile.splat %ib : !tile.ptr<i32> -> tensor<$KBPx!tile.ptr<i32>>
  %iptr = tile.addptr %ibs, %pos : tensor<$KBPx!tile.ptr<i32>>, tensor<$KBPxi32>
  tile.store %iptr, %kbs, %keep : tensor<$KBPx!tile.ptr<i32>>
  %nkept = tile.reduce(%kept) axis = 0 : (tensor<$KBPxi32>) -> (i32) {
  ^bb0(%f0: i32, %f1: i32):
    %fs = arith.addi %f0, %f1 : i32
    tile.reduce.return %fs : i32
  }
  %j = tile.make_range 0 to $LP : tensor<$LPxi32>
  %nks = tile.splat %nkept : i32 -> tensor<$LPxi32>
  %past0 = arith.cmpi sge, %j, %nks : tensor<$LPxi32>
  %cLs = tile.splat %cL : i32 -> tensor<$LPxi32>
  %inl = arith.cmpi slt, %j, %cLs : tensor<$LPxi32>
  %past = arith.andi %past0, %inl : tensor<$LPxi1>
  %jbs = tile.splat %ib : !tile.ptr<i32> -> tensor<$LPx!tile.ptr<i32>>
  %jptr = tile.addptr %jbs, %j : tensor<$LPx!tile.ptr<i32>>, tensor<$LPxi32>
  %m1L = arith.constant dense<-1> : tensor<$LPxi32>
  tile.store %jptr, %m1L, %past : tensor<$LPx!tile.ptr<i32>>
  %cp = tile.addptr %count, %lid : !tile.ptr<i32>, i32
  tile.store %cp, %nkept : !tile.ptr<i32>
  func.return
}
)";

std::string typeName(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  t.print(os);
  return s;
}

// ---- tgraph.attention_grad -------------------------------------------------
// Four launches: lse and delta per query row (kLseTemplate; kDeltaTemplate
// when the forward's lse is given), dq per query
// block (kDqTemplate), for key-block lists the transposed lists (which query
// blocks list each key block: kListsTemplate), and dk, dv per key block
// (kDkDvTemplate). Shared pieces are the "@NAME" lines below. The tags are
// kTemplate's ("?S"/"?D" lists or not, "?C"/"?N" causal or not, "?T"/"?F"
// element type, "?B"/"?E" ragged keys or not, "?M"/"?U" score mask or not).
// lse is kept in the exp2 domain: m + log2(l) of the scores times
// scale log2(e) (+inf for a row that saw no key: its probabilities are 0).

// A program's query rows: ids, constants, offsets and masks (past N_Q).
constexpr const char *kGradRows = R"(
  %qb = tile.program_id x : i32
  %zh = tile.program_id y : i32
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %cBM = arith.constant $BM : i32
  %cBN = arith.constant $BN : i32
  %cD = arith.constant $D : i32
  %cNQ = arith.constant $NQ : i32
  %cNKV = arith.constant $NKV : i32
  %zf = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %zE = arith.constant 0.000000e+00 : $E
  %scale2 = arith.constant $SCALE2 : f32
  %cQB = arith.constant $QB : i32
  %lz = arith.muli %zh, %cQB : i32
  %lid = arith.addi %lz, %qb : i32
  %m0 = arith.muli %qb, %cBM : i32
  %rm = tile.make_range 0 to $BM : tensor<$BMxi32>
  %m0s = tile.splat %m0 : i32 -> tensor<$BMxi32>
  %offs_m = arith.addi %m0s, %rm : tensor<$BMxi32>
  %offs_d = tile.make_range 0 to $D : tensor<$Dxi32>
  %om2 = tile.expand_dims %offs_m, axis = 1 : tensor<$BMxi32> -> tensor<$BMx1xi32>
  %od2 = tile.expand_dims %offs_d, axis = 0 : tensor<$Dxi32> -> tensor<1x$Dxi32>
  %cDm = tile.splat %cD : i32 -> tensor<$BMx1xi32>
  %qrow = arith.muli %om2, %cDm : tensor<$BMx1xi32>
  %qrowb = tile.broadcast %qrow : tensor<$BMx1xi32> -> tensor<$BMx$Dxi32>
  %qcolb = tile.broadcast %od2 : tensor<1x$Dxi32> -> tensor<$BMx$Dxi32>
  %qoffs = arith.addi %qrowb, %qcolb : tensor<$BMx$Dxi32>
  %cNQm = tile.splat %cNQ : i32 -> tensor<$BMx1xi32>
  %qok = arith.cmpi slt, %om2, %cNQm : tensor<$BMx1xi32>
  %qmask = tile.broadcast %qok : tensor<$BMx1xi1> -> tensor<$BMx$Dxi1>
  %cQH = arith.constant $NQD : i32
  %qhead = arith.muli %zh, %cQH : i32
  %zEq = tile.splat %zE : $E -> tensor<$BMx$Dx$E>
  %cNQs = tile.splat %cNQ : i32 -> tensor<$BMxi32>
  %rowok = arith.cmpi slt, %offs_m, %cNQs : tensor<$BMxi32>
  %rhead = arith.muli %zh, %cNQ : i32
)";

// A program's query block: its rows, q's block and the head's K.
constexpr const char *kGradQBlock = R"(
@ROWS
  %qbase = tile.addptr %q, %qhead : !tile.ptr<$E>, i32
  %qbs = tile.splat %qbase : !tile.ptr<$E> -> tensor<$BMx$Dx!tile.ptr<$E>>
  %qptr = tile.addptr %qbs, %qoffs : tensor<$BMx$Dx!tile.ptr<$E>>, tensor<$BMx$Dxi32>
  %qt = tile.load %qptr, %qmask, %zEq : tensor<$BMx$Dx!tile.ptr<$E>>
  %cKH = arith.constant $NKVD : i32
  %khead = arith.muli %zh, %cKH : i32
  %kbase = tile.addptr %k, %khead : !tile.ptr<$E>, i32
)";

// delta = rowsum(do * o) of the program's rows, stored.
constexpr const char *kDelta = R"(
  %obase = tile.addptr %o, %qhead : !tile.ptr<$E>, i32
  %obs = tile.splat %obase : !tile.ptr<$E> -> tensor<$BMx$Dx!tile.ptr<$E>>
  %optr = tile.addptr %obs, %qoffs : tensor<$BMx$Dx!tile.ptr<$E>>, tensor<$BMx$Dxi32>
  %ot = tile.load %optr, %qmask, %zEq : tensor<$BMx$Dx!tile.ptr<$E>>
  %dobase = tile.addptr %do, %qhead : !tile.ptr<$E>, i32
  %dobs = tile.splat %dobase : !tile.ptr<$E> -> tensor<$BMx$Dx!tile.ptr<$E>>
  %doptr = tile.addptr %dobs, %qoffs : tensor<$BMx$Dx!tile.ptr<$E>>, tensor<$BMx$Dxi32>
  %dot_ = tile.load %doptr, %qmask, %zEq : tensor<$BMx$Dx!tile.ptr<$E>>
?T %of = arith.extf %ot : tensor<$BMx$Dx$E> to tensor<$BMx$Dxf32>
?T %dof = arith.extf %dot_ : tensor<$BMx$Dx$E> to tensor<$BMx$Dxf32>
?F %zod = tile.splat %zf : f32 -> tensor<$BMx$Dxf32>
?F %of = arith.addf %ot, %zod : tensor<$BMx$Dxf32>
?F %dof = arith.addf %dot_, %zod : tensor<$BMx$Dxf32>
  %prod = arith.mulf %of, %dof : tensor<$BMx$Dxf32>
  %dsum = tile.reduce(%prod) axis = 1 : (tensor<$BMx$Dxf32>) -> (tensor<$BMxf32>) {
  ^bb0(%d0: f32, %d1: f32):
    %dd = arith.addf %d0, %d1 : f32
    tile.reduce.return %dd : f32
  }
  %deb = tile.addptr %delta, %rhead : !tile.ptr<f32>, i32
  %debs = tile.splat %deb : !tile.ptr<f32> -> tensor<$BMx!tile.ptr<f32>>
  %dep = tile.addptr %debs, %offs_m : tensor<$BMx!tile.ptr<f32>>, tensor<$BMxi32>
  tile.store %dep, %dsum, %rowok : tensor<$BMx!tile.ptr<f32>>
)";

// The key blocks a query block visits: %trip of them (lists: %idxrow).
// Shared by the forward (kTemplate) and the gradients.
constexpr const char *kKeyTrip = R"(
?S %cntp = tile.addptr %cnt, %lid : !tile.ptr<i32>, i32
?S %trip0 = tile.load %cntp : !tile.ptr<i32>
?S %cL = arith.constant $L : i32
?S %trip1 = arith.minsi %trip0, %cL : i32
?S %trip = arith.maxsi %trip1, %c0 : i32
?S %lrow = arith.muli %lid, %cL : i32
?S %idxrow = tile.addptr %idx, %lrow : !tile.ptr<i32>, i32
?D %hi0 = arith.addi %m0, %cBM : i32
?D %hi1 = arith.minsi %hi0, %cNKV : i32
?D %cBN1 = arith.constant $BNM1 : i32
?D %hi2 = arith.addi %hi1, %cBN1 : i32
?D %ctrip = arith.divsi %hi2, %cBN : i32
?D %all = arith.constant $KB : i32
?C ?D %trip = arith.addi %ctrip, %c0 : i32
?N ?D %trip = arith.addi %all, %c0 : i32
)";

// In the loop over key blocks (%j): key block %kb, its rows' offsets,
// k's block %kt (masked past N_KV when ragged), the scores %s (masked) and
// %sc (times scale log2(e)). Shared by the forward and the gradients.
constexpr const char *kKeyBlock = R"(
?S   %ip = tile.addptr %idxrow, %j : !tile.ptr<i32>, i32
?S   %kb0 = tile.load %ip : !tile.ptr<i32>
?S   %kbmax = arith.constant $KBM1 : i32
?S   %kb1 = arith.minsi %kb0, %kbmax : i32
?S   %kb = arith.maxsi %kb1, %c0 : i32
?D   %kb = arith.addi %j, %c0 : i32
    %n0 = arith.muli %kb, %cBN : i32
    %rn = tile.make_range 0 to $BN : tensor<$BNxi32>
    %n0s = tile.splat %n0 : i32 -> tensor<$BNxi32>
    %offs_n = arith.addi %n0s, %rn : tensor<$BNxi32>
    %on1 = tile.expand_dims %offs_n, axis = 1 : tensor<$BNxi32> -> tensor<$BNx1xi32>
    %cDn = tile.splat %cD : i32 -> tensor<$BNx1xi32>
    %krow = arith.muli %on1, %cDn : tensor<$BNx1xi32>
    %krowb = tile.broadcast %krow : tensor<$BNx1xi32> -> tensor<$BNx$Dxi32>
    %kcolb = tile.broadcast %od2 : tensor<1x$Dxi32> -> tensor<$BNx$Dxi32>
    %koffs = arith.addi %krowb, %kcolb : tensor<$BNx$Dxi32>
?B   %cNKVn = tile.splat %cNKV : i32 -> tensor<$BNx1xi32>
?B   %kok = arith.cmpi slt, %on1, %cNKVn : tensor<$BNx1xi32>
?B   %kmask = tile.broadcast %kok : tensor<$BNx1xi1> -> tensor<$BNx$Dxi1>
?B   %zEk = tile.splat %zE : $E -> tensor<$BNx$Dx$E>
    %kbs = tile.splat %kbase : !tile.ptr<$E> -> tensor<$BNx$Dx!tile.ptr<$E>>
    %kptr = tile.addptr %kbs, %koffs : tensor<$BNx$Dx!tile.ptr<$E>>, tensor<$BNx$Dxi32>
?B   %kt = tile.load %kptr, %kmask, %zEk : tensor<$BNx$Dx!tile.ptr<$E>>
?E ?H   %kt = tile.load %kptr : tensor<$BNx$Dx!tile.ptr<$E>>
?E ?G   %kvr0 = arith.muli %zh, %cNKV : i32
?E ?G   %kvr = arith.addi %kvr0, %n0 : i32
?E ?G   %kt = tile.descriptor_load %k[%kvr, %c0] shape [%cKVROWS, %cD] strides [%cD64, %c1i64] : !tile.ptr<$E> -> tensor<$BNx$Dx$E>
    %ktt = tile.trans %kt, order = [1, 0] : tensor<$BNx$Dx$E> -> tensor<$Dx$BNx$E>
    %zs = tile.splat %zf : f32 -> tensor<$BMRx$BNxf32>
    %s0 = tile.dot %qt, %ktt, %zs : tensor<$BMRx$Dx$E> * tensor<$Dx$BNx$E> -> tensor<$BMRx$BNxf32>
    %on0 = tile.expand_dims %offs_n, axis = 0 : tensor<$BNxi32> -> tensor<1x$BNxi32>
?B   %cNKVr = tile.splat %cNKV : i32 -> tensor<1x$BNxi32>
?B   %colok = arith.cmpi slt, %on0, %cNKVr : tensor<1x$BNxi32>
?B   %colokb = tile.broadcast %colok : tensor<1x$BNxi1> -> tensor<$BMRx$BNxi1>
?C   %omb = tile.broadcast %om2 : tensor<$BMRx1xi32> -> tensor<$BMRx$BNxi32>
?C   %onb = tile.broadcast %on0 : tensor<1x$BNxi32> -> tensor<$BMRx$BNxi32>
?C   %below = arith.cmpi sge, %omb, %onb : tensor<$BMRx$BNxi32>
?C ?B   %keep = arith.andi %colokb, %below : tensor<$BMRx$BNxi1>
?C ?E   %keep = arith.andi %below, %below : tensor<$BMRx$BNxi1>
?N ?B   %keep = arith.andi %colokb, %colokb : tensor<$BMRx$BNxi1>
?M   %ninfs = tile.splat %ninf : f32 -> tensor<$BMRx$BNxf32>
?M   %s = arith.select %keep, %s0, %ninfs : tensor<$BMRx$BNxi1>, tensor<$BMRx$BNxf32>
?U   %nzs = arith.constant dense<-0.000000e+00> : tensor<$BMRx$BNxf32>
?U   %s = arith.addf %s0, %nzs : tensor<$BMRx$BNxf32>
    %scs = tile.splat %scale2 : f32 -> tensor<$BMRx$BNxf32>
    %sc = arith.mulf %s, %scs : tensor<$BMRx$BNxf32>
)";

// The online softmax's step over one key block: the row max (scores
// unscaled until then; scale > 0), p = exp2(s * scale log2(e) - m), the
// rescale alpha of what came before, and the new row sums %lnew.
constexpr const char *kOnlineSoftmax = R"(
    %rmax = tile.reduce(%s) axis = 1 : (tensor<$BMRx$BNxf32>) -> (tensor<$BMRxf32>) {
    ^bb0(%x0: f32, %x1: f32):
      %mx = arith.maxnumf %x0, %x1 : f32
      tile.reduce.return %mx : f32
    }
    %crs = tile.splat %scale2 : f32 -> tensor<$BMRxf32>
    %rmaxs = arith.mulf %rmax, %crs : tensor<$BMRxf32>
    %mnew = arith.maxnumf %m, %rmaxs : tensor<$BMRxf32>
    %ninfm = tile.splat %ninf : f32 -> tensor<$BMRxf32>
    %zm = tile.splat %zf : f32 -> tensor<$BMRxf32>
    %none = arith.cmpf oeq, %mnew, %ninfm : tensor<$BMRxf32>
    %msafe = arith.select %none, %zm, %mnew : tensor<$BMRxi1>, tensor<$BMRxf32>
    %ms1 = tile.expand_dims %msafe, axis = 1 : tensor<$BMRxf32> -> tensor<$BMRx1xf32>
    %msb = tile.broadcast %ms1 : tensor<$BMRx1xf32> -> tensor<$BMRx$BNxf32>
    %sd = arith.subf %sc, %msb : tensor<$BMRx$BNxf32>
    %p = math.exp2 %sd : tensor<$BMRx$BNxf32>
    %md = arith.subf %m, %msafe : tensor<$BMRxf32>
    %alpha = math.exp2 %md : tensor<$BMRxf32>
    %psum = tile.reduce(%p) axis = 1 : (tensor<$BMRx$BNxf32>) -> (tensor<$BMRxf32>) {
    ^bb0(%y0: f32, %y1: f32):
      %sm = arith.addf %y0, %y1 : f32
      tile.reduce.return %sm : f32
    }
    %ls = arith.mulf %l, %alpha : tensor<$BMRxf32>
    %lnew = arith.addf %ls, %psum : tensor<$BMRxf32>
)";

constexpr const char *kLseTemplate = R"(
func.func @$NAME(%q: !tile.ptr<$E> {tile.divisibility = 16 : i32}, %k: !tile.ptr<$E> {tile.divisibility = 16 : i32},
?S %idx: !tile.ptr<i32> {tile.divisibility = 16 : i32}, %cnt: !tile.ptr<i32> {tile.divisibility = 16 : i32},
  %o: !tile.ptr<$E> {tile.divisibility = 16 : i32}, %do: !tile.ptr<$E> {tile.divisibility = 16 : i32},
  %lse: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %delta: !tile.ptr<f32> {tile.divisibility = 16 : i32}) {
@QBLOCK
  %m_init = tile.splat %ninf : f32 -> tensor<$BMxf32>
  %l_init = tile.splat %zf : f32 -> tensor<$BMxf32>
@TRIP
  %res:2 = scf.for %j = %c0 to %trip step %c1 iter_args(%l = %l_init, %m = %m_init) -> (tensor<$BMxf32>, tensor<$BMxf32>) : i32 {
@KBLOCK
@SOFTMAX
    scf.yield %lnew, %mnew : tensor<$BMxf32>, tensor<$BMxf32>
  }
  %zl = tile.splat %zf : f32 -> tensor<$BMxf32>
  %seen = arith.cmpf ogt, %res#0, %zl : tensor<$BMxf32>
  %onel = arith.constant dense<1.000000e+00> : tensor<$BMxf32>
  %lsafe = arith.select %seen, %res#0, %onel : tensor<$BMxi1>, tensor<$BMxf32>
  %lg = math.log2 %lsafe : tensor<$BMxf32>
  %lse0 = arith.addf %res#1, %lg : tensor<$BMxf32>
  %pinf = arith.constant dense<0x7F800000> : tensor<$BMxf32>
  %lsev = arith.select %seen, %lse0, %pinf : tensor<$BMxi1>, tensor<$BMxf32>
  %lseb = tile.addptr %lse, %rhead : !tile.ptr<f32>, i32
  %lsebs = tile.splat %lseb : !tile.ptr<f32> -> tensor<$BMx!tile.ptr<f32>>
  %lsep = tile.addptr %lsebs, %offs_m : tensor<$BMx!tile.ptr<f32>>, tensor<$BMxi32>
  tile.store %lsep, %lsev, %rowok : tensor<$BMx!tile.ptr<f32>>
@DELTA
  func.return
}
)";

// With the forward's log-sum-exp given (natural log): delta per query row,
// and the log-sum-exp into the exp2 domain (times log2(e)) for the kernels
// below; no scores are computed.
constexpr const char *kDeltaTemplate = R"(
func.func @$NAME(%o: !tile.ptr<$E> {tile.divisibility = 16 : i32}, %do: !tile.ptr<$E> {tile.divisibility = 16 : i32},
  %lsein: !tile.ptr<f32> {tile.divisibility = 16 : i32},
  %lse: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %delta: !tile.ptr<f32> {tile.divisibility = 16 : i32}) {
@ROWS
@DELTA
  %zr = tile.splat %zf : f32 -> tensor<$BMxf32>
  %linb = tile.addptr %lsein, %rhead : !tile.ptr<f32>, i32
  %linbs = tile.splat %linb : !tile.ptr<f32> -> tensor<$BMx!tile.ptr<f32>>
  %linp = tile.addptr %linbs, %offs_m : tensor<$BMx!tile.ptr<f32>>, tensor<$BMxi32>
  %lin = tile.load %linp, %rowok, %zr : tensor<$BMx!tile.ptr<f32>>
  %log2e = arith.constant dense<1.44269502> : tensor<$BMxf32>
  %lse2 = arith.mulf %lin, %log2e : tensor<$BMxf32>
  %lseb = tile.addptr %lse, %rhead : !tile.ptr<f32>, i32
  %lsebs = tile.splat %lseb : !tile.ptr<f32> -> tensor<$BMx!tile.ptr<f32>>
  %lsep = tile.addptr %lsebs, %offs_m : tensor<$BMx!tile.ptr<f32>>, tensor<$BMxi32>
  tile.store %lsep, %lse2, %rowok : tensor<$BMx!tile.ptr<f32>>
  func.return
}
)";

// dq for one query block: over its key blocks, p = exp2(s - lse),
// dp = do v^T, ds = p (dp - delta), dq += ds k; then dq * scale.
constexpr const char *kDqTemplate = R"(
func.func @$NAME(%q: !tile.ptr<$E> {tile.divisibility = 16 : i32}, %k: !tile.ptr<$E> {tile.divisibility = 16 : i32}, %v: !tile.ptr<$E> {tile.divisibility = 16 : i32},
?S %idx: !tile.ptr<i32> {tile.divisibility = 16 : i32}, %cnt: !tile.ptr<i32> {tile.divisibility = 16 : i32},
  %do: !tile.ptr<$E> {tile.divisibility = 16 : i32}, %lse: !tile.ptr<f32> {tile.divisibility = 16 : i32},
  %delta: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %dq: !tile.ptr<$E> {tile.divisibility = 16 : i32}) {
@QBLOCK
  %vbase = tile.addptr %v, %khead : !tile.ptr<$E>, i32
  %dobase = tile.addptr %do, %qhead : !tile.ptr<$E>, i32
  %dobs = tile.splat %dobase : !tile.ptr<$E> -> tensor<$BMx$Dx!tile.ptr<$E>>
  %doptr = tile.addptr %dobs, %qoffs : tensor<$BMx$Dx!tile.ptr<$E>>, tensor<$BMx$Dxi32>
  %dot_ = tile.load %doptr, %qmask, %zEq : tensor<$BMx$Dx!tile.ptr<$E>>
  %zr = tile.splat %zf : f32 -> tensor<$BMxf32>
  %lseb = tile.addptr %lse, %rhead : !tile.ptr<f32>, i32
  %lsebs = tile.splat %lseb : !tile.ptr<f32> -> tensor<$BMx!tile.ptr<f32>>
  %lsep = tile.addptr %lsebs, %offs_m : tensor<$BMx!tile.ptr<f32>>, tensor<$BMxi32>
  %lsev = tile.load %lsep, %rowok, %zr : tensor<$BMx!tile.ptr<f32>>
  %deb = tile.addptr %delta, %rhead : !tile.ptr<f32>, i32
  %debs = tile.splat %deb : !tile.ptr<f32> -> tensor<$BMx!tile.ptr<f32>>
  %dep = tile.addptr %debs, %offs_m : tensor<$BMx!tile.ptr<f32>>, tensor<$BMxi32>
  %delv = tile.load %dep, %rowok, %zr : tensor<$BMx!tile.ptr<f32>>
  %lse1 = tile.expand_dims %lsev, axis = 1 : tensor<$BMxf32> -> tensor<$BMx1xf32>
  %lsebb = tile.broadcast %lse1 : tensor<$BMx1xf32> -> tensor<$BMx$BNxf32>
  %del1 = tile.expand_dims %delv, axis = 1 : tensor<$BMxf32> -> tensor<$BMx1xf32>
  %delb = tile.broadcast %del1 : tensor<$BMx1xf32> -> tensor<$BMx$BNxf32>
  %dq_init = tile.splat %zf : f32 -> tensor<$BMx$Dxf32>
@TRIP
  %res = scf.for %j = %c0 to %trip step %c1 iter_args(%acc = %dq_init) -> (tensor<$BMx$Dxf32>) : i32 {
@KBLOCK
    %vbs = tile.splat %vbase : !tile.ptr<$E> -> tensor<$BNx$Dx!tile.ptr<$E>>
    %vptr = tile.addptr %vbs, %koffs : tensor<$BNx$Dx!tile.ptr<$E>>, tensor<$BNx$Dxi32>
?B   %vt = tile.load %vptr, %kmask, %zEk : tensor<$BNx$Dx!tile.ptr<$E>>
?E   %vt = tile.load %vptr : tensor<$BNx$Dx!tile.ptr<$E>>
    %sd = arith.subf %sc, %lsebb : tensor<$BMx$BNxf32>
    %p = math.exp2 %sd : tensor<$BMx$BNxf32>
    %vtt = tile.trans %vt, order = [1, 0] : tensor<$BNx$Dx$E> -> tensor<$Dx$BNx$E>
    %dp = tile.dot %dot_, %vtt, %zs : tensor<$BMx$Dx$E> * tensor<$Dx$BNx$E> -> tensor<$BMx$BNxf32>
    %dpd = arith.subf %dp, %delb : tensor<$BMx$BNxf32>
    %ds = arith.mulf %p, %dpd : tensor<$BMx$BNxf32>
?T   %dse = arith.truncf %ds : tensor<$BMx$BNxf32> to tensor<$BMx$BNx$E>
?F   %dse = arith.addf %ds, %zs : tensor<$BMx$BNxf32>
    %accn = tile.dot %dse, %kt, %acc : tensor<$BMx$BNx$E> * tensor<$BNx$Dx$E> -> tensor<$BMx$Dxf32>
    scf.yield %accn : tensor<$BMx$Dxf32>
  }
  %sc1 = arith.constant $SCALE1 : f32
  %sc1s = tile.splat %sc1 : f32 -> tensor<$BMx$Dxf32>
  %dqs = arith.mulf %res, %sc1s : tensor<$BMx$Dxf32>
?T %dqe = arith.truncf %dqs : tensor<$BMx$Dxf32> to tensor<$BMx$Dx$E>
?F %zo = tile.splat %zf : f32 -> tensor<$BMx$Dxf32>
?F %dqe = arith.addf %dqs, %zo : tensor<$BMx$Dxf32>
  %dqbase = tile.addptr %dq, %qhead : !tile.ptr<$E>, i32
  %dqbs = tile.splat %dqbase : !tile.ptr<$E> -> tensor<$BMx$Dx!tile.ptr<$E>>
  %dqptr = tile.addptr %dqbs, %qoffs : tensor<$BMx$Dx!tile.ptr<$E>>, tensor<$BMx$Dxi32>
  tile.store %dqptr, %dqe, %qmask : tensor<$BMx$Dx!tile.ptr<$E>>
  func.return
}
)";

// Key-block lists transposed: for key block kb of a head, the query
// blocks whose lists hold it, in order (qidx, (Z, H, KB, QB); entries past
// the count are not written), how many times each lists it (qmul, the same
// shape), and their count (qcnt, (Z, H, KB)). The query
// blocks go $QCH at a time: each chunk's hits, their exclusive scan plus
// the count so far give each hit's slot, and the hits are stored there.
// $QCH: up to 64 query blocks, a power of two (16 at least); $LP: L rounded
// up to a power of two (16 at least).
constexpr const char *kListsTemplate = R"(
func.func @$NAME(%idx: !tile.ptr<i32> {tile.divisibility = 16 : i32}, %cnt: !tile.ptr<i32> {tile.divisibility = 16 : i32},
  %qidx: !tile.ptr<i32> {tile.divisibility = 16 : i32}, %qmul: !tile.ptr<i32> {tile.divisibility = 16 : i32},
  %qcnt: !tile.ptr<i32> {tile.divisibility = 16 : i32}) {
  %kb = tile.program_id x : i32
  %zh = tile.program_id y : i32
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %cQB = arith.constant $QB : i32
  %cL = arith.constant $L : i32
  %cKB = arith.constant $KB : i32
  %cQCH = arith.constant $QCH : i32
  %chunks = arith.constant $NCH : i32
  %rc = tile.make_range 0 to $QCH : tensor<$QCHxi32>
  %l = tile.make_range 0 to $LP : tensor<$LPxi32>
  %rbase = arith.muli %zh, %cQB : i32
  %lbase = arith.muli %rbase, %cL : i32
  %idxb = tile.addptr %idx, %lbase : !tile.ptr<i32>, i32
  %cntb = tile.addptr %cnt, %rbase : !tile.ptr<i32>, i32
  %lk0 = arith.muli %zh, %cKB : i32
  %lk = arith.addi %lk0, %kb : i32
  %obase0 = arith.muli %lk, %cQB : i32
  %qib = tile.addptr %qidx, %obase0 : !tile.ptr<i32>, i32
  %qmb = tile.addptr %qmul, %obase0 : !tile.ptr<i32>, i32
  %cQBs = tile.splat %cQB : i32 -> tensor<$QCHxi32>
  %zr = tile.splat %c0 : i32 -> tensor<$QCHxi32>
  %oner = arith.constant dense<1> : tensor<$QCHxi32>
  %l2 = tile.expand_dims %l, axis = 0 : tensor<$LPxi32> -> tensor<1x$LPxi32>
  %lb2 = tile.broadcast %l2 : tensor<1x$LPxi32> -> tensor<$QCHx$LPxi32>
  %cLm = tile.splat %cL : i32 -> tensor<$QCHx$LPxi32>
  %inL = arith.cmpi slt, %lb2, %cLm : tensor<$QCHx$LPxi32>
  %m1 = arith.constant dense<-1> : tensor<$QCHx$LPxi32>
  %kbs = tile.splat %kb : i32 -> tensor<$QCHx$LPxi32>
  %one2 = arith.constant dense<1> : tensor<$QCHx$LPxi32>
  %zero2 = arith.constant dense<0> : tensor<$QCHx$LPxi32>
  %total = scf.for %ch = %c0 to %chunks step %c1 iter_args(%run = %c0) -> (i32) : i32 {
    %r0 = arith.muli %ch, %cQCH : i32
    %r0s = tile.splat %r0 : i32 -> tensor<$QCHxi32>
    %r = arith.addi %r0s, %rc : tensor<$QCHxi32>
    %rok = arith.cmpi slt, %r, %cQBs : tensor<$QCHxi32>
    %cntbs = tile.splat %cntb : !tile.ptr<i32> -> tensor<$QCHx!tile.ptr<i32>>
    %cntp = tile.addptr %cntbs, %r : tensor<$QCHx!tile.ptr<i32>>, tensor<$QCHxi32>
    %cr = tile.load %cntp, %rok, %zr : tensor<$QCHx!tile.ptr<i32>>
    %r2 = tile.expand_dims %r, axis = 1 : tensor<$QCHxi32> -> tensor<$QCHx1xi32>
    %rb2 = tile.broadcast %r2 : tensor<$QCHx1xi32> -> tensor<$QCHx$LPxi32>
    %rowoff = arith.muli %rb2, %cLm : tensor<$QCHx$LPxi32>
    %eoffs = arith.addi %rowoff, %lb2 : tensor<$QCHx$LPxi32>
    %cr2 = tile.expand_dims %cr, axis = 1 : tensor<$QCHxi32> -> tensor<$QCHx1xi32>
    %crb = tile.broadcast %cr2 : tensor<$QCHx1xi32> -> tensor<$QCHx$LPxi32>
    %inl = arith.cmpi slt, %lb2, %crb : tensor<$QCHx$LPxi32>
    %ok2 = arith.andi %inl, %inL : tensor<$QCHx$LPxi1>
    %idxbs = tile.splat %idxb : !tile.ptr<i32> -> tensor<$QCHx$LPx!tile.ptr<i32>>
    %idxp = tile.addptr %idxbs, %eoffs : tensor<$QCHx$LPx!tile.ptr<i32>>, tensor<$QCHx$LPxi32>
    %ent = tile.load %idxp, %ok2, %m1 : tensor<$QCHx$LPx!tile.ptr<i32>>
    %eq = arith.cmpi eq, %ent, %kbs : tensor<$QCHx$LPxi32>
    %hit2 = arith.andi %eq, %ok2 : tensor<$QCHx$LPxi1>
    %hv = arith.select %hit2, %one2, %zero2 : tensor<$QCHx$LPxi1>, tensor<$QCHx$LPxi32>
    %hits = tile.reduce(%hv) axis = 1 : (tensor<$QCHx$LPxi32>) -> (tensor<$QCHxi32>) {
    ^bb0(%a0: i32, %a1: i32):
      %as = arith.addi %a0, %a1 : i32
      tile.reduce.return %as : i32
    }
    %hit = arith.cmpi sgt, %hits, %zr : tensor<$QCHxi32>
    %h01 = arith.select %hit, %oner, %zr : tensor<$QCHxi1>, tensor<$QCHxi32>
    %incl = tile.scan(%h01) axis = 0 : (tensor<$QCHxi32>) -> tensor<$QCHxi32> {
    ^bb0(%b0: i32, %b1: i32):
      %bs = arith.addi %b0, %b1 : i32
      tile.reduce.return %bs : i32
    }
    %runs = tile.splat %run : i32 -> tensor<$QCHxi32>
    %excl = arith.subi %incl, %h01 : tensor<$QCHxi32>
    %pos = arith.addi %excl, %runs : tensor<$QCHxi32>
    %qibs = tile.splat %qib : !tile.ptr<i32> -> tensor<$QCHx!tile.ptr<i32>>
    %qip = tile.addptr %qibs, %pos : tensor<$QCHx!tile.ptr<i32>>, tensor<$QCHxi32>
    tile.store %qip, %r, %hit : tensor<$QCHx!tile.ptr<i32>>
    %qmbs = tile.splat %qmb : !tile.ptr<i32> -> tensor<$QCHx!tile.ptr<i32>>
    %qmp = tile.addptr %qmbs, %pos : tensor<$QCHx!tile.ptr<i32>>, tensor<$QCHxi32>
    tile.store %qmp, %hits, %hit : tensor<$QCHx!tile.ptr<i32>>
    %n = tile.reduce(%h01) axis = 0 : (tensor<$QCHxi32>) -> (i32) {
    ^bb0(%t0: i32, %t1: i32):
      %ts = arith.addi %t0, %t1 : i32
      tile.reduce.return %ts : i32
    }
    %runn = arith.addi %run, %n : i32
    scf.yield %runn : i32
  }
  %qcp = tile.addptr %qcnt, %lk : !tile.ptr<i32>, i32
  tile.store %qcp, %total : !tile.ptr<i32>
  func.return
}
)";

// dk and dv for one key block: over the query blocks that attend to it
// (all; from the diagonal's with `causal`; the transposed lists), with
// s^T = k q^T: p^T = exp2(s^T - lse), dv += p^T do, dp^T = v do^T,
// ds^T = p^T (dp^T - delta), dk += ds^T q; then dk * scale.
constexpr const char *kDkDvTemplate = R"(
func.func @$NAME(%q: !tile.ptr<$E> {tile.divisibility = 16 : i32}, %k: !tile.ptr<$E> {tile.divisibility = 16 : i32}, %v: !tile.ptr<$E> {tile.divisibility = 16 : i32},
?S %qidx: !tile.ptr<i32> {tile.divisibility = 16 : i32}, %qmul: !tile.ptr<i32> {tile.divisibility = 16 : i32},
?S %qcnt: !tile.ptr<i32> {tile.divisibility = 16 : i32},
  %do: !tile.ptr<$E> {tile.divisibility = 16 : i32}, %lse: !tile.ptr<f32> {tile.divisibility = 16 : i32},
  %delta: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %dk: !tile.ptr<$E> {tile.divisibility = 16 : i32},
  %dv: !tile.ptr<$E> {tile.divisibility = 16 : i32}
?A , %dqacc: !tile.ptr<f32> {tile.divisibility = 16 : i32}
  ) {
  %kb = tile.program_id x : i32
  %zh = tile.program_id y : i32
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %cBM = arith.constant $BM : i32
  %cBN = arith.constant $BN : i32
  %cD = arith.constant $D : i32
  %cNQ = arith.constant $NQ : i32
  %cNKV = arith.constant $NKV : i32
  %cQB = arith.constant $QB : i32
  %cKB = arith.constant $KB : i32
  %zf = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %zE = arith.constant 0.000000e+00 : $E
  %scale2 = arith.constant $SCALE2 : f32
  %n0 = arith.muli %kb, %cBN : i32
  %rn = tile.make_range 0 to $BN : tensor<$BNxi32>
  %n0s = tile.splat %n0 : i32 -> tensor<$BNxi32>
  %offs_n = arith.addi %n0s, %rn : tensor<$BNxi32>
  %offs_d = tile.make_range 0 to $D : tensor<$Dxi32>
  %od2 = tile.expand_dims %offs_d, axis = 0 : tensor<$Dxi32> -> tensor<1x$Dxi32>
  %on1 = tile.expand_dims %offs_n, axis = 1 : tensor<$BNxi32> -> tensor<$BNx1xi32>
  %cDn = tile.splat %cD : i32 -> tensor<$BNx1xi32>
  %krow = arith.muli %on1, %cDn : tensor<$BNx1xi32>
  %krowb = tile.broadcast %krow : tensor<$BNx1xi32> -> tensor<$BNx$Dxi32>
  %kcolb = tile.broadcast %od2 : tensor<1x$Dxi32> -> tensor<$BNx$Dxi32>
  %koffs = arith.addi %krowb, %kcolb : tensor<$BNx$Dxi32>
  %cKH = arith.constant $NKVD : i32
  %khead = arith.muli %zh, %cKH : i32
  %kbase = tile.addptr %k, %khead : !tile.ptr<$E>, i32
  %vbase = tile.addptr %v, %khead : !tile.ptr<$E>, i32
  %kbs = tile.splat %kbase : !tile.ptr<$E> -> tensor<$BNx$Dx!tile.ptr<$E>>
  %kptr = tile.addptr %kbs, %koffs : tensor<$BNx$Dx!tile.ptr<$E>>, tensor<$BNx$Dxi32>
  %vbs = tile.splat %vbase : !tile.ptr<$E> -> tensor<$BNx$Dx!tile.ptr<$E>>
  %vptr = tile.addptr %vbs, %koffs : tensor<$BNx$Dx!tile.ptr<$E>>, tensor<$BNx$Dxi32>
  %cNKVn = tile.splat %cNKV : i32 -> tensor<$BNx1xi32>
  %kok = arith.cmpi slt, %on1, %cNKVn : tensor<$BNx1xi32>
  %kmask = tile.broadcast %kok : tensor<$BNx1xi1> -> tensor<$BNx$Dxi1>
?B %zEk = tile.splat %zE : $E -> tensor<$BNx$Dx$E>
?B %kt = tile.load %kptr, %kmask, %zEk : tensor<$BNx$Dx!tile.ptr<$E>>
?B %vt = tile.load %vptr, %kmask, %zEk : tensor<$BNx$Dx!tile.ptr<$E>>
?E %kt = tile.load %kptr : tensor<$BNx$Dx!tile.ptr<$E>>
?E %vt = tile.load %vptr : tensor<$BNx$Dx!tile.ptr<$E>>
  %cQH = arith.constant $NQD : i32
  %qhead = arith.muli %zh, %cQH : i32
  %qbase = tile.addptr %q, %qhead : !tile.ptr<$E>, i32
  %dobase = tile.addptr %do, %qhead : !tile.ptr<$E>, i32
  %rhead = arith.muli %zh, %cNQ : i32
  %lseb = tile.addptr %lse, %rhead : !tile.ptr<f32>, i32
  %deb = tile.addptr %delta, %rhead : !tile.ptr<f32>, i32
?A %dqbase = tile.addptr %dqacc, %qhead : !tile.ptr<f32>, i32
?A %sc1a = arith.constant $SCALE1 : f32
  %rm = tile.make_range 0 to $BM : tensor<$BMxi32>
  %cDm = tile.splat %cD : i32 -> tensor<$BMx1xi32>
  %cNQm = tile.splat %cNQ : i32 -> tensor<$BMx1xi32>
  %cNQs = tile.splat %cNQ : i32 -> tensor<$BMxi32>
  %zEq = tile.splat %zE : $E -> tensor<$BMx$Dx$E>
  %zr = tile.splat %zf : f32 -> tensor<$BMxf32>
  %zacc = tile.splat %zf : f32 -> tensor<$BNx$Dxf32>
  %zsT = tile.splat %zf : f32 -> tensor<$BNx$BMxf32>
?S %lk0 = arith.muli %zh, %cKB : i32
?S %lk = arith.addi %lk0, %kb : i32
?S %qcp = tile.addptr %qcnt, %lk : !tile.ptr<i32>, i32
?S %trip = tile.load %qcp : !tile.ptr<i32>
?S %qrow0 = arith.muli %lk, %cQB : i32
?S %qidxrow = tile.addptr %qidx, %qrow0 : !tile.ptr<i32>, i32
?S %qmulrow = tile.addptr %qmul, %qrow0 : !tile.ptr<i32>, i32
?D ?N %start = arith.addi %c0, %c0 : i32
?D ?C %start = arith.divsi %n0, %cBM : i32
?D %trip = arith.subi %cQB, %start : i32
  %res:2 = scf.for %j = %c0 to %trip step %c1 iter_args(%dka = %zacc, %dva = %zacc) -> (tensor<$BNx$Dxf32>, tensor<$BNx$Dxf32>) : i32 {
?S   %qp = tile.addptr %qidxrow, %j : !tile.ptr<i32>, i32
?S   %qb = tile.load %qp : !tile.ptr<i32>
?S   %qmp = tile.addptr %qmulrow, %j : !tile.ptr<i32>, i32
?S   %mult = tile.load %qmp : !tile.ptr<i32>
?S   %multf = arith.sitofp %mult : i32 to f32
?D   %qb = arith.addi %start, %j : i32
    %m0 = arith.muli %qb, %cBM : i32
    %m0s = tile.splat %m0 : i32 -> tensor<$BMxi32>
    %offs_m = arith.addi %m0s, %rm : tensor<$BMxi32>
    %om2 = tile.expand_dims %offs_m, axis = 1 : tensor<$BMxi32> -> tensor<$BMx1xi32>
    %qrow = arith.muli %om2, %cDm : tensor<$BMx1xi32>
    %qrowb = tile.broadcast %qrow : tensor<$BMx1xi32> -> tensor<$BMx$Dxi32>
    %qcolb = tile.broadcast %od2 : tensor<1x$Dxi32> -> tensor<$BMx$Dxi32>
    %qoffs = arith.addi %qrowb, %qcolb : tensor<$BMx$Dxi32>
    %qok = arith.cmpi slt, %om2, %cNQm : tensor<$BMx1xi32>
    %qmask = tile.broadcast %qok : tensor<$BMx1xi1> -> tensor<$BMx$Dxi1>
    %qbs = tile.splat %qbase : !tile.ptr<$E> -> tensor<$BMx$Dx!tile.ptr<$E>>
    %qptr = tile.addptr %qbs, %qoffs : tensor<$BMx$Dx!tile.ptr<$E>>, tensor<$BMx$Dxi32>
    %qt = tile.load %qptr, %qmask, %zEq : tensor<$BMx$Dx!tile.ptr<$E>>
    %dobs = tile.splat %dobase : !tile.ptr<$E> -> tensor<$BMx$Dx!tile.ptr<$E>>
    %doptr = tile.addptr %dobs, %qoffs : tensor<$BMx$Dx!tile.ptr<$E>>, tensor<$BMx$Dxi32>
    %dot_ = tile.load %doptr, %qmask, %zEq : tensor<$BMx$Dx!tile.ptr<$E>>
    %rowok = arith.cmpi slt, %offs_m, %cNQs : tensor<$BMxi32>
    %lsebs = tile.splat %lseb : !tile.ptr<f32> -> tensor<$BMx!tile.ptr<f32>>
    %lsep = tile.addptr %lsebs, %offs_m : tensor<$BMx!tile.ptr<f32>>, tensor<$BMxi32>
    %lsev = tile.load %lsep, %rowok, %zr : tensor<$BMx!tile.ptr<f32>>
    %debs = tile.splat %deb : !tile.ptr<f32> -> tensor<$BMx!tile.ptr<f32>>
    %dep = tile.addptr %debs, %offs_m : tensor<$BMx!tile.ptr<f32>>, tensor<$BMxi32>
    %delv = tile.load %dep, %rowok, %zr : tensor<$BMx!tile.ptr<f32>>
    %qtt = tile.trans %qt, order = [1, 0] : tensor<$BMx$Dx$E> -> tensor<$Dx$BMx$E>
    %sT0 = tile.dot %kt, %qtt, %zsT : tensor<$BNx$Dx$E> * tensor<$Dx$BMx$E> -> tensor<$BNx$BMxf32>
    %om0 = tile.expand_dims %offs_m, axis = 0 : tensor<$BMxi32> -> tensor<1x$BMxi32>
?B   %rowkb = tile.broadcast %kok : tensor<$BNx1xi1> -> tensor<$BNx$BMxi1>
?C   %omT = tile.broadcast %om0 : tensor<1x$BMxi32> -> tensor<$BNx$BMxi32>
?C   %onT = tile.broadcast %on1 : tensor<$BNx1xi32> -> tensor<$BNx$BMxi32>
?C   %belowT = arith.cmpi sge, %omT, %onT : tensor<$BNx$BMxi32>
?C ?B   %keep = arith.andi %rowkb, %belowT : tensor<$BNx$BMxi1>
?C ?E   %keep = arith.andi %belowT, %belowT : tensor<$BNx$BMxi1>
?N ?B   %keep = arith.andi %rowkb, %rowkb : tensor<$BNx$BMxi1>
?M   %ninfs = tile.splat %ninf : f32 -> tensor<$BNx$BMxf32>
?M   %sT = arith.select %keep, %sT0, %ninfs : tensor<$BNx$BMxi1>, tensor<$BNx$BMxf32>
?U   %nzs = arith.constant dense<-0.000000e+00> : tensor<$BNx$BMxf32>
?U   %sT = arith.addf %sT0, %nzs : tensor<$BNx$BMxf32>
    %scs = tile.splat %scale2 : f32 -> tensor<$BNx$BMxf32>
    %scT = arith.mulf %sT, %scs : tensor<$BNx$BMxf32>
    %lse0 = tile.expand_dims %lsev, axis = 0 : tensor<$BMxf32> -> tensor<1x$BMxf32>
    %lseT = tile.broadcast %lse0 : tensor<1x$BMxf32> -> tensor<$BNx$BMxf32>
    %sdT = arith.subf %scT, %lseT : tensor<$BNx$BMxf32>
    %pT0 = math.exp2 %sdT : tensor<$BNx$BMxf32>
?S   %mults = tile.splat %multf : f32 -> tensor<$BNx$BMxf32>
?S   %pT = arith.mulf %pT0, %mults : tensor<$BNx$BMxf32>
?D   %nzT = arith.constant dense<-0.000000e+00> : tensor<$BNx$BMxf32>
?D   %pT = arith.addf %pT0, %nzT : tensor<$BNx$BMxf32>
?T   %pTe = arith.truncf %pT : tensor<$BNx$BMxf32> to tensor<$BNx$BMx$E>
?F   %pTe = arith.addf %pT, %zsT : tensor<$BNx$BMxf32>
    %dvn = tile.dot %pTe, %dot_, %dva : tensor<$BNx$BMx$E> * tensor<$BMx$Dx$E> -> tensor<$BNx$Dxf32>
    %dott = tile.trans %dot_, order = [1, 0] : tensor<$BMx$Dx$E> -> tensor<$Dx$BMx$E>
    %dpT = tile.dot %vt, %dott, %zsT : tensor<$BNx$Dx$E> * tensor<$Dx$BMx$E> -> tensor<$BNx$BMxf32>
    %del0 = tile.expand_dims %delv, axis = 0 : tensor<$BMxf32> -> tensor<1x$BMxf32>
    %delT = tile.broadcast %del0 : tensor<1x$BMxf32> -> tensor<$BNx$BMxf32>
    %dpd = arith.subf %dpT, %delT : tensor<$BNx$BMxf32>
    %dsT = arith.mulf %pT, %dpd : tensor<$BNx$BMxf32>
?T   %dsTe = arith.truncf %dsT : tensor<$BNx$BMxf32> to tensor<$BNx$BMx$E>
?F   %dsTe = arith.addf %dsT, %zsT : tensor<$BNx$BMxf32>
    %dkn = tile.dot %dsTe, %qt, %dka : tensor<$BNx$BMx$E> * tensor<$BMx$Dx$E> -> tensor<$BNx$Dxf32>
?A   %dsq = tile.trans %dsTe, order = [1, 0] : tensor<$BNx$BMx$E> -> tensor<$BMx$BNx$E>
?A   %zq = tile.splat %zf : f32 -> tensor<$BMx$Dxf32>
?A   %dqp = tile.dot %dsq, %kt, %zq : tensor<$BMx$BNx$E> * tensor<$BNx$Dx$E> -> tensor<$BMx$Dxf32>
?A   %sc1q = tile.splat %sc1a : f32 -> tensor<$BMx$Dxf32>
?A   %dqs = arith.mulf %dqp, %sc1q : tensor<$BMx$Dxf32>
?P   %dqbs = tile.splat %dqbase : !tile.ptr<f32> -> tensor<$BMx$Dx!tile.ptr<f32>>
?P   %dqptr = tile.addptr %dqbs, %qoffs : tensor<$BMx$Dx!tile.ptr<f32>>, tensor<$BMx$Dxi32>
?P   %dqold = tile.atomic_rmw fadd, relaxed, gpu, %dqptr, %dqs, %qmask : tensor<$BMx$Dx!tile.ptr<f32>>
?R   %dqrow0 = arith.addi %rhead, %m0 : i32
?R   %dqrows = arith.constant $DQROWS : i32
?R   %dqcols = arith.constant $D : i32
?R   %dqstride = arith.constant $D : i64
?R   %dqunit = arith.constant 1 : i64
?R   tile.descriptor_atomic_add %dqacc[%dqrow0, %c0], %dqs shape [%dqrows, %dqcols] strides [%dqstride, %dqunit] : !tile.ptr<f32>, tensor<$BMx$Dxf32>
    scf.yield %dkn, %dvn : tensor<$BNx$Dxf32>, tensor<$BNx$Dxf32>
  }
  %sc1 = arith.constant $SCALE1 : f32
  %sc1s = tile.splat %sc1 : f32 -> tensor<$BNx$Dxf32>
  %dks = arith.mulf %res#0, %sc1s : tensor<$BNx$Dxf32>
?T %dke = arith.truncf %dks : tensor<$BNx$Dxf32> to tensor<$BNx$Dx$E>
?T %dve = arith.truncf %res#1 : tensor<$BNx$Dxf32> to tensor<$BNx$Dx$E>
?F %dke = arith.addf %dks, %zacc : tensor<$BNx$Dxf32>
?F %dve = arith.addf %res#1, %zacc : tensor<$BNx$Dxf32>
  %dkbase = tile.addptr %dk, %khead : !tile.ptr<$E>, i32
  %dkbs = tile.splat %dkbase : !tile.ptr<$E> -> tensor<$BNx$Dx!tile.ptr<$E>>
  %dkptr = tile.addptr %dkbs, %koffs : tensor<$BNx$Dx!tile.ptr<$E>>, tensor<$BNx$Dxi32>
  tile.store %dkptr, %dke, %kmask : tensor<$BNx$Dx!tile.ptr<$E>>
  %dvbase = tile.addptr %dv, %khead : !tile.ptr<$E>, i32
  %dvbs = tile.splat %dvbase : !tile.ptr<$E> -> tensor<$BNx$Dx!tile.ptr<$E>>
  %dvptr = tile.addptr %dvbs, %koffs : tensor<$BNx$Dx!tile.ptr<$E>>, tensor<$BNx$Dxi32>
  tile.store %dvptr, %dve, %kmask : tensor<$BNx$Dx!tile.ptr<$E>>
  func.return
}
)";

// dq from the float32 buffer the dk/dv kernel added into (dq-atomics): a
// program per query block, the cast to the element type.
constexpr const char *kDqConvertTemplate = R"(
func.func @$NAME(%dqacc: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %dq: !tile.ptr<$E> {tile.divisibility = 16 : i32}) {
@ROWS
  %zt = tile.splat %zf : f32 -> tensor<$BMx$Dxf32>
  %ab = tile.addptr %dqacc, %qhead : !tile.ptr<f32>, i32
  %abs = tile.splat %ab : !tile.ptr<f32> -> tensor<$BMx$Dx!tile.ptr<f32>>
  %aptr = tile.addptr %abs, %qoffs : tensor<$BMx$Dx!tile.ptr<f32>>, tensor<$BMx$Dxi32>
  %acc = tile.load %aptr, %qmask, %zt : tensor<$BMx$Dx!tile.ptr<f32>>
?T %out = arith.truncf %acc : tensor<$BMx$Dxf32> to tensor<$BMx$Dx$E>
?F %out = arith.addf %acc, %zt : tensor<$BMx$Dxf32>
  %ob = tile.addptr %dq, %qhead : !tile.ptr<$E>, i32
  %obs = tile.splat %ob : !tile.ptr<$E> -> tensor<$BMx$Dx!tile.ptr<$E>>
  %optr = tile.addptr %obs, %qoffs : tensor<$BMx$Dx!tile.ptr<$E>>, tensor<$BMx$Dxi32>
  tile.store %optr, %out, %qmask : tensor<$BMx$Dx!tile.ptr<$E>>
  func.return
}
)";

/// The kernel text for one op: tagged lines selected, placeholders filled
/// (longest names first, so that $NQD is not read as $NQ); a line
/// "@LOADBLOCK" stands for kLoadBlock.
std::string kernelText(const char *source, const std::map<std::string, bool> &tags,
                       const std::vector<std::pair<std::string, std::string>> &values) {
  // Shared pieces: a line "@NAME" stands for the piece (pieces may use others).
  static const std::map<std::string, const char *> pieces = {
      {"@LOADBLOCK", kLoadBlock}, {"@ROWS", kGradRows},  {"@QBLOCK", kGradQBlock},
      {"@TRIP", kKeyTrip},        {"@KBLOCK", kKeyBlock}, {"@SOFTMAX", kOnlineSoftmax},
      {"@DELTA", kDelta}};
  std::string source_ = source, out;
  for (bool again = true; again;) {
    again = false;
    std::string expanded;
    for (StringRef line : llvm::split(StringRef(source_), '\n')) {
      auto piece = pieces.find(line.trim().str());
      if (piece != pieces.end()) {
        expanded += StringRef(piece->second).drop_front().str();
        again = true;
      } else {
        expanded += line.str() + "\n";
      }
    }
    source_ = expanded;
  }
  for (StringRef line : llvm::split(StringRef(source_), '\n')) {
    bool keep = true;
    StringRef rest = line.ltrim();
    while (rest.starts_with("?") && rest.size() > 2 && rest[2] == ' ') {
      keep &= tags.at(std::string(1, rest[1]));
      rest = rest.drop_front(3).ltrim();
    }
    if (!keep)
      continue;
    std::string text = rest.str();
    for (const auto &[name, value] : values) {
      std::string key = "$" + name;
      for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
        text.replace(at, key.size(), value);
    }
    out += text + "\n";
  }
  return out;
}

struct TGraphLowerAttentionPass
    : tessera::impl::TGraphLowerAttentionBase<TGraphLowerAttentionPass> {
  using TGraphLowerAttentionBase::TGraphLowerAttentionBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (isa<tessera::tgraph::AttentionOp, tessera::tgraph::AttentionGradOp,
              tessera::tgraph::CubeReorderOp, tessera::tgraph::TokenSelectOp,
              tessera::tgraph::BlockSelectOp>(op))
        ops.push_back(op);
    });
    SymbolTable symbols(module);
    unsigned counter = 0;
    for (Operation *op : ops) {
      LogicalResult done = failure();
      if (auto a = dyn_cast<tessera::tgraph::AttentionOp>(op))
        done = lower(a, module, symbols, counter);
      else if (auto g = dyn_cast<tessera::tgraph::AttentionGradOp>(op))
        done = lowerGrad(g, module, symbols, counter);
      else if (auto c = dyn_cast<tessera::tgraph::CubeReorderOp>(op))
        done = lowerCube(c, module, symbols, counter);
      else if (auto s = dyn_cast<tessera::tgraph::BlockSelectOp>(op))
        done = lowerBlocks(s, module, symbols, counter);
      else
        done = lowerTokens(cast<tessera::tgraph::TokenSelectOp>(op), module, symbols, counter);
      if (failed(done))
        return signalPassFailure();
    }
  }

  /// A fresh kernel name from the op's function and `what`.
  static std::string freshName(Operation *op, StringRef what, SymbolTable &symbols,
                               unsigned &counter) {
    auto parent = op->getParentOfType<func::FuncOp>();
    std::string name;
    do {
      name = (parent ? parent.getName().str() : std::string("graph")) + "_" + what.str() + "_" +
             std::to_string(counter++);
    } while (symbols.lookup(name));
    return name;
  }

  /// Parses `text` (one kernel), adds it to the module and replaces `op`
  /// with its launch over `grid` on `args`.
  static LogicalResult replaceWithKernel(Operation *op, const std::string &text,
                                         ModuleOp module, SymbolTable &symbols,
                                         ArrayRef<int64_t> grid, ValueRange args) {
    ParserConfig config(module.getContext());
    OwningOpRef<ModuleOp> parsed = parseSourceString<ModuleOp>(text, config, "tgraph-kernel");
    if (!parsed)
      return op->emitOpError("internal error: the generated kernel does not parse");
    auto kernel = cast<func::FuncOp>(parsed->getBody()->front());
    kernel->remove();
    symbols.insert(kernel);
    OpBuilder b(op);
    auto launch = tessera::tgraph::LaunchOp::create(
        b, op->getLoc(), op->getResultTypes(), FlatSymbolRefAttr::get(kernel.getNameAttr()),
        b.getDenseI64ArrayAttr(grid), args);
    op->replaceAllUsesWith(launch.getResults());
    op->erase();
    return success();
  }

  LogicalResult lowerCube(tessera::tgraph::CubeReorderOp op, ModuleOp module,
                          SymbolTable &symbols, unsigned &counter) {
    auto x = cast<RankedTensorType>(op.getX().getType());
    if (!x.hasStaticShape())
      return op.emitOpError("needs static shapes to be lowered");
    int64_t z = x.getDimSize(0), s = x.getDimSize(1), c = x.getDimSize(2);
    if (z * s * c >= (int64_t(1) << 31))
      return op.emitOpError("tensors of 2^31 elements or more are not lowered yet");
    ArrayRef<int64_t> video = op.getVideo(), cube = op.getCube();
    int64_t bt = 32, bc = std::min<int64_t>(128, llvm::PowerOf2Ceil(std::max<int64_t>(c, 1)));
    int64_t nh = video[1] / cube[1], nw = video[2] / cube[2];
    auto str = [](int64_t v) { return std::to_string(v); };
    std::string text = kernelText(
        kCubeTemplate, {{"I", op.getInverse()}, {"O", !op.getInverse()}},
        {{"NAME", freshName(op, "cube_reorder", symbols, counter)},
         {"NHNW", str(nh * nw)}, {"VOL", str(cube[0] * cube[1] * cube[2])},
         {"CHW", str(cube[1] * cube[2])}, {"SC", str(s * c)}, {"BT", str(bt)}, {"BC", str(bc)},
         {"NW", str(nw)}, {"NH", str(nh)}, {"CT", str(cube[0])}, {"CH", str(cube[1])},
         {"CW", str(cube[2])}, {"HV", str(video[1])}, {"WV", str(video[2])}, {"S", str(s)},
         {"C", str(c)}, {"E", typeName(x.getElementType())}});
    return replaceWithKernel(op, text, module, symbols, {(s + bt - 1) / bt, z, (c + bc - 1) / bc},
                             ValueRange{op.getX()});
  }

  /// Parses one kernel and adds it to the module.
  static FailureOr<func::FuncOp> addKernel(Operation *op, const std::string &text,
                                           ModuleOp module, SymbolTable &symbols) {
    ParserConfig config(module.getContext());
    OwningOpRef<ModuleOp> parsed = parseSourceString<ModuleOp>(text, config, "tgraph-kernel");
    if (!parsed)
      return op->emitOpError("internal error: the generated kernel does not parse");
    auto kernel = cast<func::FuncOp>(parsed->getBody()->front());
    kernel->remove();
    symbols.insert(kernel);
    return kernel;
  }

  LogicalResult lowerBlocks(tessera::tgraph::BlockSelectOp op, ModuleOp module,
                            SymbolTable &symbols, unsigned &counter) {
    auto q = cast<RankedTensorType>(op.getQ().getType());
    auto k = cast<RankedTensorType>(op.getK().getType());
    auto index = cast<RankedTensorType>(op.getIndex().getType());
    if (!q.hasStaticShape() || !k.hasStaticShape() || !index.hasStaticShape())
      return op.emitOpError("needs static shapes to be lowered");
    Type elem = q.getElementType();
    if (!elem.isF16() && !elem.isBF16() && !elem.isF32())
      return op.emitOpError() << "is lowered for f16, bf16 and f32 tensors, got " << elem;
    int64_t z = q.getDimSize(0), h = q.getDimSize(1), nq = q.getDimSize(2), d = q.getDimSize(3);
    int64_t nkv = k.getDimSize(2), bm = op.getBlockM(), bn = op.getBlockN();
    int64_t qb = (nq + bm - 1) / bm, kb = (nkv + bn - 1) / bn, l = index.getDimSize(3);
    int64_t kbp = std::max<int64_t>(16, llvm::PowerOf2Ceil(kb)),
            lp = std::max<int64_t>(16, llvm::PowerOf2Ceil(l));
    if (kbp > 8192)
      return op.emitOpError() << "with " << kb << " key blocks is not lowered yet (at most 8192)";
    if (z * h * qb * kb >= (int64_t(1) << 31))
      return op.emitOpError("score tables of 2^31 entries or more are not lowered yet");
    if (z * h * std::max(nq, nkv) * d >= (int64_t(1) << 31))
      return op.emitOpError("tensors of 2^31 elements or more are not lowered yet");
    auto str = [](int64_t v) { return std::to_string(v); };
    auto flt = [](double v) {
      std::string s;
      llvm::raw_string_ostream(s) << llvm::format("%.9e", v);
      return s;
    };
    auto f32 = Float32Type::get(op.getContext());
    OpBuilder b(op);
    SmallVector<Value> pooled;
    for (auto [x, n, blk, nb] : {std::make_tuple(op.getQ(), nq, bm, qb),
                                 std::make_tuple(op.getK(), nkv, bn, kb)}) {
      std::string text = kernelText(
          kPoolTemplate, {{"X", !elem.isF32()}, {"Y", elem.isF32()}},
          {{"NAME", freshName(op, "block_pool", symbols, counter)}, {"ND", str(n * d)},
           {"NB", str(nb)}, {"B", str(blk)}, {"N", str(n)}, {"D", str(d)},
           {"E", typeName(elem)}});
      FailureOr<func::FuncOp> kernel = addKernel(op, text, module, symbols);
      if (failed(kernel))
        return failure();
      auto type = RankedTensorType::get({z, h, nb, d}, f32);
      pooled.push_back(tessera::tgraph::LaunchOp::create(
                           b, op.getLoc(), TypeRange{type},
                           FlatSymbolRefAttr::get(kernel->getNameAttr()),
                           b.getDenseI64ArrayAttr({nb, z * h, 1}), ValueRange{x})
                           .getResult(0));
    }
    FailureOr<func::FuncOp> scoring = addKernel(
        op,
        kernelText(kScoresTemplate, {},
                   {{"NAME", freshName(op, "block_scores", symbols, counter)},
                    {"SCALE", flt(1.0 / std::sqrt(double(d)))}, {"KB", str(kb)},
                    {"QB", str(qb)}, {"D", str(d)}}),
        module, symbols);
    if (failed(scoring))
      return failure();
    Value scores = tessera::tgraph::LaunchOp::create(
                       b, op.getLoc(), TypeRange{RankedTensorType::get({z, h, qb, kb}, f32)},
                       FlatSymbolRefAttr::get(scoring->getNameAttr()),
                       b.getDenseI64ArrayAttr({(qb + 63) / 64, (kb + 63) / 64, z * h}), pooled)
                       .getResult(0);
    bool mass = bool(op.getMass());
    // Up to 32 kept blocks: the highest remaining one at a time ("?R "),
    // not the bisections ("?S "), as tessera.ops.block_select.
    bool rounds = l <= 32;
    double param = mass ? op.getMass()->convertToDouble() : op.getThreshold()->convertToDouble();
    std::string text = kernelText(
        kSelectTemplate, {{"M", mass}, {"K", !mass}, {"S", !rounds}, {"R", rounds}},
        {{"NAME", freshName(op, "block_select", symbols, counter)}, {"PARAM", flt(param)},
         {"KBF", flt(double(kb))}, {"KBP", str(kbp)}, {"KB", str(kb)}, {"QB", str(qb)},
         {"MIN", str(op.getMinBlocks())}, {"LP", str(lp)}, {"L", str(l)}});
    FailureOr<func::FuncOp> kernel = addKernel(op, text, module, symbols);
    if (failed(kernel))
      return failure();
    // One warp up to 1024 key blocks (as tessera.ops launches it): its
    // reductions are then shuffles only, with no barrier. tessera.graph
    // launches the kernel on these warps.
    (*kernel)->setAttr("tgraph.num_warps",
                       b.getI64IntegerAttr(std::clamp<int64_t>(kbp / 1024, 1, 8)));
    auto launch = tessera::tgraph::LaunchOp::create(
        b, op.getLoc(), op->getResultTypes(), FlatSymbolRefAttr::get(kernel->getNameAttr()),
        b.getDenseI64ArrayAttr({qb, z * h, 1}), ValueRange{scores});
    op->replaceAllUsesWith(launch.getResults());
    op->erase();
    return success();
  }

  LogicalResult lowerTokens(tessera::tgraph::TokenSelectOp op, ModuleOp module,
                            SymbolTable &symbols, unsigned &counter) {
    auto q = cast<RankedTensorType>(op.getQ().getType());
    auto index = cast<RankedTensorType>(op.getIndex().getType());
    if (!q.hasStaticShape() || !index.hasStaticShape())
      return op.emitOpError("needs static shapes to be lowered");
    Type elem = q.getElementType();
    if (!elem.isF16() && !elem.isBF16() && !elem.isF32())
      return op.emitOpError() << "is lowered for f16, bf16 and f32 tensors, got " << elem;
    int64_t z = q.getDimSize(0), h = q.getDimSize(1), n = q.getDimSize(2), d = q.getDimSize(3);
    if (z * h * n * d >= (int64_t(1) << 31))
      return op.emitOpError("tensors of 2^31 elements or more are not lowered yet");
    int64_t block = op.getBlock(), nb = (n + block - 1) / block, l = index.getDimSize(3);
    auto str = [](int64_t v) { return std::to_string(v); };
    std::string ratio;
    llvm::raw_string_ostream(ratio) << llvm::format("%.9e", op.getKeepRatio().convertToDouble());
    std::string text = kernelText(
        kTokenTemplate, {{"X", !elem.isF32()}, {"Y", elem.isF32()}},
        {{"NAME", freshName(op, "token_select", symbols, counter)}, {"RATIO", ratio},
         {"ND", str(n * d)}, {"NB", str(nb)}, {"LP", str(llvm::PowerOf2Ceil(l))},
         {"B", str(block)}, {"N", str(n)}, {"D", str(d)}, {"L", str(l)},
         {"E", typeName(elem)}});
    return replaceWithKernel(op, text, module, symbols, {nb, z * h, 1}, ValueRange{op.getQ()});
  }

  /// tgraph.attention_grad: lse and delta, dq, (the transposed lists,) dk
  /// and dv: three or four launches.
  LogicalResult lowerGrad(tessera::tgraph::AttentionGradOp op, ModuleOp module,
                          SymbolTable &symbols, unsigned &counter) {
    auto q = cast<RankedTensorType>(op.getQ().getType());
    auto k = cast<RankedTensorType>(op.getK().getType());
    if (!q.hasStaticShape() || !k.hasStaticShape() ||
        (op.getKvIndex() && !cast<RankedTensorType>(op.getKvIndex().getType()).hasStaticShape()))
      return op.emitOpError("needs static shapes to be lowered");
    Type elem = q.getElementType();
    if (!elem.isF16() && !elem.isBF16() && !elem.isF32())
      return op.emitOpError() << "is lowered for f16, bf16 and f32 tensors, got " << elem;
    int64_t z = q.getDimSize(0), h = q.getDimSize(1), nq = q.getDimSize(2), d = q.getDimSize(3);
    int64_t nkv = k.getDimSize(2), bm = op.getBlockM(), bn = op.getBlockN();
    int64_t qb = (nq + bm - 1) / bm, kb = (nkv + bn - 1) / bn;
    if (z * h * std::max(nq, nkv) * d >= (int64_t(1) << 31))
      return op.emitOpError("tensors of 2^31 elements or more are not lowered yet");
    bool sparse = bool(op.getKvIndex());
    int64_t lists = sparse ? cast<RankedTensorType>(op.getKvIndex().getType()).getDimSize(3) : 0;
    if (sparse && std::max(z * h * kb * qb, z * h * qb * lists) >= (int64_t(1) << 31))
      return op.emitOpError("block lists of 2^31 entries or more are not lowered yet");
    int64_t qch = std::min<int64_t>(64, std::max<int64_t>(16, llvm::PowerOf2Ceil(qb)));
    int64_t lp = std::max<int64_t>(16, llvm::PowerOf2Ceil(std::max<int64_t>(lists, 1)));
    if (sparse && qch * lp > tessera::tile::kMaxTensorElements)
      return op.emitOpError() << "with lists of " << lists << " is not lowered yet";
    double scale = op.getScale() ? op.getScale()->convertToDouble() : 1.0 / std::sqrt(double(d));
    auto flt = [](double v) {
      std::string s;
      llvm::raw_string_ostream(s) << llvm::format("%.9e", v);
      return s;
    };
    auto str = [](int64_t v) { return std::to_string(v); };
    bool ragged = nkv % bn != 0, masked = ragged || op.getCausal();
    std::map<std::string, bool> tags = {{"S", sparse},      {"D", !sparse},
                                        {"C", op.getCausal()}, {"N", !op.getCausal()},
                                        {"T", !elem.isF32()}, {"F", elem.isF32()},
                                        {"B", ragged},          {"E", !ragged},
                                        {"M", masked},          {"U", !masked},
                                        {"A", bool(dqAtomics)},
                                        // dq's blocks added as whole blocks
                                        // of the (z h nq, d) buffer (TMA's
                                        // bulk reduction on sm_90a) when
                                        // no block runs past its head.
                                        {"R", dqAtomics && nq % bm == 0},
                                        {"P", dqAtomics && nq % bm != 0},
                                        {"G", false},           {"H", true}};
    std::vector<std::pair<std::string, std::string>> values = {
        {"DQROWS", str(z * h * nq)},
        {"NKVD", str(nkv * d)}, {"NQD", str(nq * d)},   {"NKV", str(nkv)},
        {"NQ", str(nq)},        {"BNM1", str(bn - 1)},  {"BMR", str(bm)},
        {"BM", str(bm)},
        {"BN", str(bn)},        {"QCH", str(qch)},      {"NCH", str((qb + qch - 1) / qch)},
        {"QB", str(qb)},
        {"KBM1", str(kb - 1)},  {"KB", str(kb)},        {"SCALE2", flt(scale * 1.4426950408889634)},
        {"SCALE1", flt(scale)}, {"D", str(d)},          {"E", typeName(elem)},
        {"LP", str(lp)},        {"L", str(lists)}};
    auto named = [&](StringRef what) {
      auto v = values;
      v.insert(v.begin(), {"NAME", freshName(op, what, symbols, counter)});
      return v;
    };
    OpBuilder b(op);
    auto launch = [&](const char *tmpl, StringRef what, TypeRange results,
                      ArrayRef<int64_t> grid, ValueRange args,
                      ArrayRef<int64_t> zeroed = {}) -> FailureOr<ValueRange> {
      FailureOr<func::FuncOp> kernel = addKernel(op, kernelText(tmpl, tags, named(what)), module,
                                                 symbols);
      if (failed(kernel))
        return failure();
      return tessera::tgraph::LaunchOp::create(
                 b, op.getLoc(), results, FlatSymbolRefAttr::get(kernel->getNameAttr()),
                 b.getDenseI64ArrayAttr(grid), args,
                 zeroed.empty() ? DenseI64ArrayAttr() : b.getDenseI64ArrayAttr(zeroed))
          .getResults();
    };
    auto f32 = Float32Type::get(op.getContext());
    auto rowType = RankedTensorType::get({z, h, nq}, f32);
    FailureOr<ValueRange> stats;
    if (op.getLse()) {
      stats = launch(kDeltaTemplate, "attention_delta", {rowType, rowType}, {qb, z * h, 1},
                     ValueRange{op.getO(), op.getDO(), op.getLse()});
    } else {
      SmallVector<Value> lseArgs = {op.getQ(), op.getK()};
      if (sparse)
        lseArgs.append({op.getKvIndex(), op.getKvCount()});
      lseArgs.append({op.getO(), op.getDO()});
      stats = launch(kLseTemplate, "attention_lse", {rowType, rowType}, {qb, z * h, 1}, lseArgs);
    }
    if (failed(stats))
      return failure();
    Value lse = (*stats)[0], delta = (*stats)[1];
    SmallVector<Value> dqArgs = {op.getQ(), op.getK(), op.getV()};
    if (sparse)
      dqArgs.append({op.getKvIndex(), op.getKvCount()});
    dqArgs.append({op.getDO(), lse, delta});
    // dq-atomics: no dq kernel; the dk/dv kernel adds into a zeroed buffer.
    FailureOr<ValueRange> dq = ValueRange();
    if (!dqAtomics)
      dq = launch(kDqTemplate, "attention_dq", {op.getDq().getType()}, {qb, z * h, 1}, dqArgs);
    if (failed(dq))
      return failure();
    SmallVector<Value> kvArgs = {op.getQ(), op.getK(), op.getV()};
    if (sparse) {
      auto i32 = IntegerType::get(op.getContext(), 32);
      // The query blocks listing each key block, how many times each lists
      // it (a repeated block weighs that many times, as in the forward),
      // and their count.
      auto lists2 = launch(kListsTemplate, "attention_qlists",
                           {RankedTensorType::get({z, h, kb, qb}, i32),
                            RankedTensorType::get({z, h, kb, qb}, i32),
                            RankedTensorType::get({z, h, kb}, i32)},
                           {kb, z * h, 1}, ValueRange{op.getKvIndex(), op.getKvCount()});
      if (failed(lists2))
        return failure();
      kvArgs.append({(*lists2)[0], (*lists2)[1], (*lists2)[2]});
    }
    kvArgs.append({op.getDO(), lse, delta});
    SmallVector<Type> kvResults = {op.getDk().getType(), op.getDv().getType()};
    if (dqAtomics)
      kvResults.push_back(RankedTensorType::get({z, h, nq, d}, f32));
    auto dkdv = launch(kDkDvTemplate, "attention_dkdv", kvResults, {kb, z * h, 1}, kvArgs,
                       dqAtomics ? ArrayRef<int64_t>{2} : ArrayRef<int64_t>{});
    if (failed(dkdv))
      return failure();
    if (dqAtomics) {
      dq = launch(kDqConvertTemplate, "attention_dq_convert", {op.getDq().getType()},
                  {qb, z * h, 1}, ValueRange{(*dkdv)[2]});
      if (failed(dq))
        return failure();
    }
    op.getDq().replaceAllUsesWith((*dq)[0]);
    op.getDk().replaceAllUsesWith((*dkdv)[0]);
    op.getDv().replaceAllUsesWith((*dkdv)[1]);
    op->erase();
    return success();
  }

  LogicalResult lower(tessera::tgraph::AttentionOp op, ModuleOp module, SymbolTable &symbols,
                      unsigned &counter) {
    auto q = cast<RankedTensorType>(op.getQ().getType());
    auto k = cast<RankedTensorType>(op.getK().getType());
    if (!q.hasStaticShape() || !k.hasStaticShape() ||
        (op.getKvIndex() && !cast<RankedTensorType>(op.getKvIndex().getType()).hasStaticShape()))
      return op.emitOpError("needs static shapes to be lowered");
    Type elem = q.getElementType();
    if (!elem.isF16() && !elem.isBF16() && !elem.isF32())
      return op.emitOpError() << "is lowered for f16, bf16 and f32 tensors, got " << elem;
    int64_t z = q.getDimSize(0), h = q.getDimSize(1), nq = q.getDimSize(2), d = q.getDimSize(3);
    int64_t nkv = k.getDimSize(2), bm = op.getBlockM(), bn = op.getBlockN();
    int64_t qb = (nq + bm - 1) / bm, kb = (nkv + bn - 1) / bn;
    // Offsets are 32-bit: the largest is (Z H - 1) N D + N D.
    if (z * h * std::max(nq, nkv) * d >= (int64_t(1) << 31))
      return op.emitOpError("tensors of 2^31 elements or more are not lowered yet");
    bool sparse = bool(op.getKvIndex());
    int64_t lists = sparse ? cast<RankedTensorType>(op.getKvIndex().getType()).getDimSize(3) : 0;
    // With query lists a program computes the kept rows of its block (at
    // most the lists' length, rounded up to a power of two, 16 at least).
    bool queries = bool(op.getQIndex());
    int64_t keptMax = queries ? cast<RankedTensorType>(op.getQIndex().getType()).getDimSize(3) : bm;
    if (keptMax > bm)
      return op.emitOpError() << "query lists of " << keptMax << " positions, but blocks of "
                              << bm << " queries";
    int64_t rows = queries ? std::min<int64_t>(bm, std::max<int64_t>(16, llvm::PowerOf2Ceil(keptMax)))
                           : bm;
    double scale = op.getScale() ? op.getScale()->convertToDouble() : 1.0 / std::sqrt(double(d));

    auto parent = op->getParentOfType<func::FuncOp>();
    std::string name;
    do {
      name = (parent ? parent.getName().str() : std::string("graph")) + "_attention_" +
             std::to_string(counter++);
    } while (symbols.lookup(name));
    std::string scaleText;
    llvm::raw_string_ostream(scaleText) << llvm::format("%.9e", scale * 1.4426950408889634);
    bool ragged = nkv % bn != 0, masked = ragged || op.getCausal();
    std::map<std::string, bool> tags = {{"S", sparse},      {"D", !sparse},
                                        {"C", op.getCausal()}, {"N", !op.getCausal()},
                                        {"T", !elem.isF32()}, {"F", elem.isF32()},
                                        {"Q", queries},         {"P", !queries},
                                        {"B", ragged},          {"E", !ragged},
                                        {"M", masked},          {"U", !masked},
                                        {"R", bool(op.getLse())},
                                        // K and V blocks through tensor
                                        // descriptors over all Z*H*N_KV rows
                                        // (TMA copies on sm_90a; pointers
                                        // elsewhere), when no block is ragged.
                                        {"G", !ragged},         {"H", ragged}};
    std::vector<std::pair<std::string, std::string>> values = {
        {"NAME", name},
        {"NKVD", std::to_string(nkv * d)},
        {"NQD", std::to_string(nq * d)},
        {"NKV", std::to_string(nkv)},
        {"NQ", std::to_string(nq)},
        {"BNM1", std::to_string(bn - 1)},
        {"BMR", std::to_string(rows)},
        {"BM", std::to_string(bm)},
        {"BN", std::to_string(bn)},
        {"QB", std::to_string(qb)},
        {"KBM1", std::to_string(kb - 1)},
        {"KB", std::to_string(kb)},
        {"SCALE2", scaleText},
        {"D", std::to_string(d)},
        {"E", typeName(elem)},
        {"LQ", std::to_string(keptMax)},
        {"L", std::to_string(lists)},
        {"KVROWS", std::to_string(z * h * nkv)}};
    std::string text = kernelText(kTemplate, tags, values);
    ParserConfig config(module.getContext());
    OwningOpRef<ModuleOp> parsed = parseSourceString<ModuleOp>(text, config, "attention-kernel");
    if (!parsed)
      return op.emitOpError("internal error: the generated kernel does not parse");
    auto kernel = cast<func::FuncOp>(parsed->getBody()->front());
    kernel->remove();
    symbols.insert(kernel);

    OpBuilder b(op);
    SmallVector<Value> args = {op.getQ(), op.getK(), op.getV()};
    if (sparse) {
      args.push_back(op.getKvIndex());
      args.push_back(op.getKvCount());
    }
    if (queries) {
      args.push_back(op.getQIndex());
      args.push_back(op.getQCount());
    }
    SmallVector<Type> results = {op.getResult().getType()};
    if (op.getLse())
      results.push_back(op.getLse().getType());
    auto launch = tessera::tgraph::LaunchOp::create(
        b, op.getLoc(), results, FlatSymbolRefAttr::get(kernel.getNameAttr()),
        b.getDenseI64ArrayAttr({qb, z * h, 1}), args);
    op.getResult().replaceAllUsesWith(launch.getResult(0));
    if (op.getLse())
      op.getLse().replaceAllUsesWith(launch.getResult(1));
    op->erase();
    return success();
  }
};

} // namespace
