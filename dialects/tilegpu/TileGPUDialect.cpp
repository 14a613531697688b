//===- TileGPUDialect.cpp - GPU layouts of tile tensors -------------------===//

#include "dialects/tilegpu/TileGPUDialect.h"

#include "dialects/tile/TileDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/SmallBitVector.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace tessera::tilegpu;

#include "dialects/tilegpu/TileGPUDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/tilegpu/TileGPUAttrs.cpp.inc"

#define GET_OP_CLASSES
#include "dialects/tilegpu/TileGPUOps.cpp.inc"

namespace {
/// Prints layouts as #blocked, #blocked1, ... aliases.
struct TileGPUOpAsmInterface : OpAsmDialectInterface {
  using OpAsmDialectInterface::OpAsmDialectInterface;
  AliasResult getAlias(Attribute attr, raw_ostream &os) const override {
    if (isa<BlockedEncodingAttr>(attr)) {
      os << "blocked";
      return AliasResult::FinalAlias;
    }
    if (isa<MmaEncodingAttr>(attr)) {
      os << "mma";
      return AliasResult::FinalAlias;
    }
    if (isa<SliceEncodingAttr>(attr)) {
      os << "slice";
      return AliasResult::FinalAlias;
    }
    if (isa<SharedEncodingAttr>(attr)) {
      os << "shared";
      return AliasResult::FinalAlias;
    }
    return AliasResult::NoAlias;
  }
};
} // namespace

void TileGPUDialect::initialize() {
  addInterfaces<TileGPUOpAsmInterface>();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/tilegpu/TileGPUAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialects/tilegpu/TileGPUOps.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// BlockedEncodingAttr
//===----------------------------------------------------------------------===//

LogicalResult
BlockedEncodingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                            ArrayRef<unsigned> sizePerThread,
                            ArrayRef<unsigned> threadsPerWarp,
                            ArrayRef<unsigned> warpsPerCTA,
                            ArrayRef<unsigned> order) {
  size_t rank = order.size();
  if (rank == 0)
    return emitError() << "a blocked layout needs at least one dimension";
  if (sizePerThread.size() != rank || threadsPerWarp.size() != rank ||
      warpsPerCTA.size() != rank)
    return emitError() << "sizePerThread, threadsPerWarp, warpsPerCTA and "
                          "order must have one entry per dimension";
  unsigned lanes = 1;
  for (size_t d = 0; d < rank; ++d) {
    if (sizePerThread[d] == 0 || threadsPerWarp[d] == 0 || warpsPerCTA[d] == 0)
      return emitError() << "layout sizes must be positive";
    lanes *= threadsPerWarp[d];
  }
  if (lanes != 32 && lanes != 64)
    return emitError() << "threadsPerWarp must cover the 32 lanes of a warp "
                          "(or the 64 of an AMD wavefront), covers "
                       << lanes;
  llvm::SmallBitVector seen(rank);
  for (unsigned d : order) {
    if (d >= rank || seen.test(d))
      return emitError() << "order must be a permutation of the dimensions";
    seen.set(d);
  }
  return success();
}

unsigned BlockedEncodingAttr::getNumWarps() const {
  unsigned n = 1;
  for (unsigned w : getWarpsPerCTA())
    n *= w;
  return n;
}

SmallVector<int64_t> BlockedEncodingAttr::getShapePerCTA() const {
  SmallVector<int64_t> out;
  for (unsigned d = 0; d < getRank(); ++d)
    out.push_back(int64_t(getSizePerThread()[d]) * getThreadsPerWarp()[d] *
                  getWarpsPerCTA()[d]);
  return out;
}

SmallVector<int64_t>
BlockedEncodingAttr::getElemsPerThread(ArrayRef<int64_t> shape) const {
  SmallVector<int64_t> perCTA = getShapePerCTA(), out;
  for (unsigned d = 0; d < getRank(); ++d) {
    int64_t reps = std::max<int64_t>(1, (shape[d] + perCTA[d] - 1) / perCTA[d]);
    out.push_back(reps * getSizePerThread()[d]);
  }
  return out;
}

int64_t BlockedEncodingAttr::getTotalElemsPerThread(ArrayRef<int64_t> shape) const {
  int64_t n = 1;
  for (int64_t e : getElemsPerThread(shape))
    n *= e;
  return n;
}

BlockedEncodingAttr BlockedEncodingAttr::getDefault(MLIRContext *context,
                                                    ArrayRef<int64_t> shape,
                                                    unsigned numWarps, unsigned tileRun,
                                                    unsigned warpSize) {
  unsigned rank = shape.size();
  SmallVector<unsigned> spt(rank, 1), tpw(rank, 1), wpc(rank, 1), order;
  for (int d = rank - 1; d >= 0; --d)
    order.push_back(d);
  // Contiguous elements per thread along the fastest dimension: for 1-D
  // tensors up to 4 (16 bytes of fp32) while all lanes get some; for
  // tiles up to `tileRun` while 4 lanes share a row (8: 16 bytes of fp16,
  // 16: of fp8/int8; the operand tiles of dots load and reach shared memory
  // in 16-byte vectors).
  int64_t fastest = shape[rank - 1];
  spt[rank - 1] = rank == 1 ? unsigned(std::clamp<int64_t>(fastest / warpSize, 1, 4))
                            : unsigned(std::clamp<int64_t>(fastest / 4, 1, tileRun));
  // Lanes, then warps, from the fastest dimension to the slowest.
  SmallVector<int64_t> remaining;
  for (unsigned d = 0; d < rank; ++d)
    remaining.push_back(std::max<int64_t>(1, shape[d] / spt[d]));
  unsigned lanes = warpSize;
  for (unsigned d : order) {
    unsigned take = unsigned(std::min<int64_t>(lanes, remaining[d]));
    tpw[d] = take;
    lanes /= take;
    remaining[d] = std::max<int64_t>(1, remaining[d] / take);
  }
  tpw[order.back()] *= lanes; // lanes left over replicate the slowest dim
  unsigned warps = numWarps;
  for (unsigned d : order) {
    unsigned take = unsigned(std::min<int64_t>(warps, remaining[d]));
    wpc[d] = take;
    warps /= take;
    remaining[d] = std::max<int64_t>(1, remaining[d] / take);
  }
  wpc[order.back()] *= warps;
  return BlockedEncodingAttr::get(context, spt, tpw, wpc, order);
}

//===----------------------------------------------------------------------===//
// MmaEncodingAttr
//===----------------------------------------------------------------------===//

LogicalResult MmaEncodingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                      unsigned versionMajor,
                                      ArrayRef<unsigned> warpsPerCTA) {
  if (versionMajor != 2 && versionMajor != 3 && versionMajor != kMfma)
    return emitError() << "mma versions are 2 (mma.sync, sm_80+), 3 (wgmma, sm_90a) and mfma "
                          "(AMD CDNA), got "
                       << versionMajor;
  if (warpsPerCTA.size() != 2)
    return emitError() << "an mma layout is rank 2: warpsPerCTA needs 2 entries, got "
                       << warpsPerCTA.size();
  if (warpsPerCTA[0] == 0 || warpsPerCTA[1] == 0)
    return emitError() << "layout sizes must be positive";
  if (versionMajor == 3 && warpsPerCTA[0] % 4)
    return emitError() << "a version 3 (wgmma) layout has whole warpgroups along M: "
                          "warpsPerCTA must be [4k, n], got ["
                       << warpsPerCTA[0] << ", " << warpsPerCTA[1] << "]";
  return success();
}

Attribute MmaEncodingAttr::parse(AsmParser &parser, Type) {
  unsigned version = kMfma;
  SmallVector<unsigned> warps;
  if (parser.parseLess())
    return {};
  if (failed(parser.parseOptionalKeyword("mfma")) &&
      (parser.parseKeyword("version") || parser.parseEqual() || parser.parseInteger(version)))
    return {};
  if (parser.parseComma() || parser.parseKeyword("warpsPerCTA") || parser.parseEqual() ||
      parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
        return parser.parseInteger(warps.emplace_back());
      }) ||
      parser.parseGreater())
    return {};
  return parser.getChecked<MmaEncodingAttr>(parser.getContext(), version, warps);
}

void MmaEncodingAttr::print(AsmPrinter &printer) const {
  printer << "<";
  if (isMfma())
    printer << "mfma";
  else
    printer << "version = " << getVersionMajor();
  printer << ", warpsPerCTA = [";
  llvm::interleaveComma(getWarpsPerCTA(), printer);
  printer << "]>";
}

SmallVector<int64_t> MmaEncodingAttr::getShapePerCTA() const {
  return {getTileRows() * getWarpsPerCTA()[0], getTileCols() * getWarpsPerCTA()[1]};
}

SmallVector<int64_t> MmaEncodingAttr::getRepetitions(ArrayRef<int64_t> shape) const {
  SmallVector<int64_t> perCTA = getShapePerCTA();
  return {std::max<int64_t>(1, shape[0] / perCTA[0]),
          std::max<int64_t>(1, shape[1] / perCTA[1])};
}

int64_t MmaEncodingAttr::getTotalElemsPerThread(ArrayRef<int64_t> shape) const {
  SmallVector<int64_t> reps = getRepetitions(shape);
  return 4 * reps[0] * reps[1];
}

MmaEncodingAttr MmaEncodingAttr::getForShape(MLIRContext *context,
                                             ArrayRef<int64_t> shape,
                                             unsigned numWarps, unsigned version) {
  const int64_t kTileRows = 16, kTileCols = version == kMfma ? 16 : 8;
  unsigned wm = 1, wn = 1;
  while (wm * wn < numWarps) {
    if (shape[0] / (kTileRows * wm) >= 2 &&
        (shape[0] / (kTileRows * wm) >= shape[1] / (kTileCols * wn) ||
         shape[1] / (kTileCols * wn) < 2))
      wm *= 2;
    else if (shape[1] / (kTileCols * wn) >= 2)
      wn *= 2;
    else
      wm *= 2; // replicated
  }
  return MmaEncodingAttr::get(context, version, {wm, wn});
}

//===----------------------------------------------------------------------===//
// SliceEncodingAttr
//===----------------------------------------------------------------------===//

LogicalResult SliceEncodingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                        unsigned dim, MmaEncodingAttr parent) {
  if (dim > 1)
    return emitError() << "a slice of an mma layout drops dimension 0 or 1, got " << dim;
  return success();
}

LogicalResult
SliceEncodingAttr::verifyEncoding(ArrayRef<int64_t> shape, Type,
                                  function_ref<InFlightDiagnostic()> emitError) const {
  if (shape.size() != 1)
    return emitError() << "a slice of an mma layout holds rank-1 tensors, got rank "
                       << shape.size();
  return success();
}

SmallVector<int64_t> SliceEncodingAttr::getParentShape(ArrayRef<int64_t> shape) const {
  SmallVector<int64_t> parent(shape);
  parent.insert(parent.begin() + getDim(), 1);
  return parent;
}

//===----------------------------------------------------------------------===//
// SharedEncodingAttr
//===----------------------------------------------------------------------===//

LogicalResult SharedEncodingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                         unsigned swizzle, bool transposed) {
  if (swizzle != 0 && swizzle != 32 && swizzle != 64 && swizzle != 128)
    return emitError() << "swizzle must be 0, 32, 64 or 128 bytes, got " << swizzle;
  if (transposed && !swizzle)
    return emitError() << "only swizzled shared tiles have transposed views";
  return success();
}

/// `#tilegpu.shared`, `#tilegpu.shared<swizzle = W>` or
/// `#tilegpu.shared<swizzle = W, transposed>`.
Attribute SharedEncodingAttr::parse(AsmParser &parser, Type) {
  unsigned swizzle = 0;
  bool transposed = false;
  if (succeeded(parser.parseOptionalLess())) {
    if (parser.parseKeyword("swizzle") || parser.parseEqual() || parser.parseInteger(swizzle))
      return {};
    if (succeeded(parser.parseOptionalComma())) {
      if (parser.parseKeyword("transposed"))
        return {};
      transposed = true;
    }
    if (parser.parseGreater())
      return {};
  }
  return parser.getChecked<SharedEncodingAttr>(parser.getContext(), swizzle, transposed);
}

void SharedEncodingAttr::print(AsmPrinter &printer) const {
  if (getSwizzle())
    printer << "<swizzle = " << getSwizzle() << (getTransposed() ? ", transposed" : "") << ">";
}

//===----------------------------------------------------------------------===//
// ConvertLayoutOp
//===----------------------------------------------------------------------===//

LogicalResult ConvertLayoutOp::verify() {
  auto src = getSrc().getType(), dst = getResult().getType();
  if (src.getShape() != dst.getShape() ||
      src.getElementType() != dst.getElementType())
    return emitOpError() << "must keep the shape and element type, got "
                         << src << " and " << dst;
  return success();
}

OpFoldResult ConvertLayoutOp::fold(FoldAdaptor) {
  if (getSrc().getType() == getType())
    return getSrc();
  return {};
}

//===----------------------------------------------------------------------===//
// Async loads
//===----------------------------------------------------------------------===//

LogicalResult AsyncLoadOp::verify() {
  auto ptrType = getPtr().getType();
  auto result = getResult().getType();
  auto pointee = dyn_cast<tessera::tile::PointerType>(ptrType.getElementType());
  if (!pointee)
    return emitOpError() << "needs a tensor of pointers, got " << ptrType;
  if (!isa_and_nonnull<SharedEncodingAttr>(result.getEncoding()))
    return emitOpError() << "result must have the #tilegpu.shared encoding, got " << result;
  if (result.getShape() != ptrType.getShape() ||
      result.getElementType() != pointee.getPointeeType())
    return emitOpError() << "result " << result << " must have the shape of " << ptrType
                         << " and its pointee type";
  if (result.getRank() != 2)
    return emitOpError() << "copies rank-2 tiles, got rank " << result.getRank();
  if (getMask()) {
    auto mask = cast<RankedTensorType>(getMask().getType());
    if (mask.getShape() != ptrType.getShape() || !mask.getElementType().isInteger(1))
      return emitOpError() << "mask must be i1 of the pointers' shape, got " << mask;
  }
  if (int32_t(getBuffer()) < 0)
    return emitOpError() << "buffer must be >= 0, got " << int32_t(getBuffer());
  if (int32_t(getSlots()) < 1)
    return emitOpError() << "slots must be >= 1, got " << int32_t(getSlots());
  return success();
}

LogicalResult AsyncWaitOp::verify() {
  if (int32_t(getPending()) < 0)
    return emitOpError() << "pending must be >= 0, got " << int32_t(getPending());
  return success();
}

LogicalResult TmaInitOp::verify() {
  if (int32_t(getSlots()) < 1)
    return emitOpError() << "slots must be >= 1, got " << int32_t(getSlots());
  return success();
}

LogicalResult SlotBarriersInitOp::verify() {
  if (int32_t(getSlots()) < 2)
    return emitOpError() << "slots must be >= 2, got " << int32_t(getSlots());
  return success();
}

/// The tile of a TMA copy's slot: a rank-2 swizzled shared tile of whole
/// swizzle blocks a row, at most 256 rows (one box), in a buffer >= 0 of
/// slots >= 1.
static LogicalResult verifyTmaSlot(Operation *op, RankedTensorType result, int32_t buffer,
                                   int32_t slots) {
  auto shared = dyn_cast_or_null<SharedEncodingAttr>(result.getEncoding());
  if (!shared || !shared.getSwizzle() || shared.getTransposed())
    return op->emitOpError() << "result must be a swizzled #tilegpu.shared tile, got " << result;
  if (result.getRank() != 2)
    return op->emitOpError() << "copies rank-2 tiles, got rank " << result.getRank();
  if (!result.getElementType().isIntOrFloat())
    return op->emitOpError() << "copies integers or floats, got " << result.getElementType();
  int64_t rowBytes = result.getDimSize(1) * result.getElementType().getIntOrFloatBitWidth() / 8;
  if (rowBytes % shared.getSwizzle())
    return op->emitOpError() << "rows of " << rowBytes << " bytes are not whole "
                             << shared.getSwizzle() << "-byte swizzle blocks";
  if (result.getDimSize(0) > 256)
    return op->emitOpError() << "TMA boxes have at most 256 rows, got " << result.getDimSize(0);
  if (slots < 1 || buffer < 0)
    return op->emitOpError() << "needs slots >= 1 and buffer >= 0";
  return success();
}

LogicalResult TmaLoadOp::verify() {
  auto result = getResult().getType();
  if (getShape().size() != 2 || getStrides().size() != 2 || getOffsets().size() != 2)
    return emitOpError() << "needs two shapes, strides and offsets";
  auto base = dyn_cast<tessera::tile::PointerType>(getBase().getType());
  if (!base || base.getPointeeType() != result.getElementType())
    return emitOpError() << "base must point to " << result.getElementType();
  return verifyTmaSlot(*this, result, int32_t(getBuffer()), int32_t(getSlots()));
}

LogicalResult SlotViewOp::verify() {
  return verifyTmaSlot(*this, cast<RankedTensorType>(getResult().getType()),
                       int32_t(getBuffer()), int32_t(getSlots()));
}

LogicalResult ProducerOp::verify() {
  Operation *parent = getOperation()->getParentOp();
  if (!isa_and_nonnull<FunctionOpInterface>(parent) ||
      getOperation()->getBlock() != &parent->getRegion(0).front())
    return emitOpError("must be in a kernel's entry block");
  auto tensors = [](Operation *op) {
    auto isTensor = [](Type t) { return isa<RankedTensorType>(t); };
    return llvm::any_of(op->getOperandTypes(), isTensor) ||
           llvm::any_of(op->getResultTypes(), isTensor);
  };
  for (Operation *op = getOperation()->getPrevNode(); op; op = op->getPrevNode()) {
    if (isa<ProducerOp>(op))
      return emitOpError("is the kernel's second producer region; a kernel has at most one");
    if (tensors(op) && !op->hasTrait<OpTrait::ConstantLike>())
      return emitOpError("must come before every op on tiles (the extra warp would run them), "
                         "but follows ")
             << op->getName();
  }
  WalkResult r = getBody().walk([&](Operation *op) -> WalkResult {
    if (auto load = dyn_cast<TmaLoadOp>(op)) {
      if (!load->use_empty())
        return load->emitOpError("in a producer region fills a slot for other warps; its tile "
                                 "may not be read there"),
               WalkResult::interrupt();
      return WalkResult::advance();
    }
    if (isa<ProducerOp>(op) || tensors(op))
      return op->emitOpError("cannot be in a producer region, which holds scalar work and "
                             "tilegpu.tma_load only"),
             WalkResult::interrupt();
    return WalkResult::advance();
  });
  return failure(r.wasInterrupted());
}
