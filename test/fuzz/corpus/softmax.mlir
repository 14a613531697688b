func.func @softmax_kernel(%a0: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %a1: !tile.ptr<f32> {tile.divisibility = 16 : i32}, %a2: i32, %a3: i32, %a4: i32, %a5: i32, %a6: i32) {
  %7 = tile.program_id x : i32 loc("/work/main/examples/02_fused_softmax.py":16:17)
  %8 = tile.num_programs x : i32 loc("/work/main/examples/02_fused_softmax.py":17:16)
  scf.for %a9 = %7 to %a4 step %8 : i32 {
    %10 = arith.muli %a9, %a2 : i32 loc("/work/main/examples/02_fused_softmax.py":19:37)
    %11 = tile.addptr %a1, %10 : !tile.ptr<f32>, i32 loc("/work/main/examples/02_fused_softmax.py":19:25)
    %12 = tile.make_range 0 to 128 : tensor<128xi32> loc("/work/main/examples/02_fused_softmax.py":20:23)
    %13 = tile.splat %11 : !tile.ptr<f32> -> tensor<128x!tile.ptr<f32>> loc("/work/main/examples/02_fused_softmax.py":21:22)
    %14 = tile.addptr %13, %12 : tensor<128x!tile.ptr<f32>>, tensor<128xi32> loc("/work/main/examples/02_fused_softmax.py":21:22)
    %15 = tile.splat %a5 : i32 -> tensor<128xi32> loc("/work/main/examples/02_fused_softmax.py":22:16)
    %16 = arith.cmpi slt, %12, %15 : tensor<128xi32> loc("/work/main/examples/02_fused_softmax.py":22:16)
    %17 = arith.constant 0xFF800000 : f32 loc("/work/main/examples/02_fused_softmax.py":23:15)
    %18 = tile.splat %17 : f32 -> tensor<128xf32> loc("/work/main/examples/02_fused_softmax.py":23:15)
    %19 = tile.load %14, %16, %18 : tensor<128x!tile.ptr<f32>> loc("/work/main/examples/02_fused_softmax.py":23:15)
    %23 = tile.reduce(%19) axis = 0 : (tensor<128xf32>) -> (f32) {
    ^bb0(%a20: f32, %a21: f32):
      %22 = arith.maxnumf %a20, %a21 : f32 loc("/work/main/examples/02_fused_softmax.py":24:31)
      tile.reduce.return %22 : f32 loc("/work/main/examples/02_fused_softmax.py":24:31)
    } loc("/work/main/examples/02_fused_softmax.py":24:31)
    %24 = tile.splat %23 : f32 -> tensor<128xf32> loc("/work/main/examples/02_fused_softmax.py":24:25)
    %25 = arith.subf %19, %24 : tensor<128xf32> loc("/work/main/examples/02_fused_softmax.py":24:25)
    %26 = math.exp %25 : tensor<128xf32> loc("/work/main/examples/02_fused_softmax.py":25:21)
    %30 = tile.reduce(%26) axis = 0 : (tensor<128xf32>) -> (f32) {
    ^bb0(%a27: f32, %a28: f32):
      %29 = arith.addf %a27, %a28 : f32 loc("/work/main/examples/02_fused_softmax.py":26:23)
      tile.reduce.return %29 : f32 loc("/work/main/examples/02_fused_softmax.py":26:23)
    } loc("/work/main/examples/02_fused_softmax.py":26:23)
    %31 = tile.splat %30 : f32 -> tensor<128xf32> loc("/work/main/examples/02_fused_softmax.py":27:26)
    %32 = arith.divf %26, %31 : tensor<128xf32> loc("/work/main/examples/02_fused_softmax.py":27:26)
    %33 = arith.muli %a9, %a3 : i32 loc("/work/main/examples/02_fused_softmax.py":28:45)
    %34 = tile.addptr %a0, %33 : !tile.ptr<f32>, i32 loc("/work/main/examples/02_fused_softmax.py":28:32)
    %35 = tile.splat %34 : !tile.ptr<f32> -> tensor<128x!tile.ptr<f32>> loc("/work/main/examples/02_fused_softmax.py":29:23)
    %36 = tile.addptr %35, %12 : tensor<128x!tile.ptr<f32>>, tensor<128xi32> loc("/work/main/examples/02_fused_softmax.py":29:23)
    tile.store %36, %32, %16 : tensor<128x!tile.ptr<f32>> loc("/work/main/examples/02_fused_softmax.py":30:9)
    scf.yield loc("/work/main/examples/02_fused_softmax.py":18:5)
  } loc("/work/main/examples/02_fused_softmax.py":18:5)
  func.return
} loc("/work/main/examples/02_fused_softmax.py":14:1)
