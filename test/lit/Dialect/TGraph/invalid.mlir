// One case for every verifier rule of tgraph.contract.
// RUN: tessera-opt %s --split-input-file --verify-diagnostics

func.func @no_arrow(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>) {
  // expected-error @+1 {{spec "mn,np" has no '->' before the result's indices}}
  %r = tgraph.contract "mn,np" %a, %b : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @bad_letter(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>) {
  // expected-error @+1 {{operand 'mN' has 'N': indices are lowercase letters}}
  %r = tgraph.contract "mN,Np->mp" %a, %b : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @repeated(%a: tensor<4x4xf32>, %b: tensor<4x2xf32>) {
  // expected-error @+1 {{operand 'mm' repeats 'm'}}
  %r = tgraph.contract "mm,mp->mp" %a, %b : tensor<4x4xf32>, tensor<4x2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @result_index_nowhere(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>) {
  // expected-error @+1 {{result index 'z' is in no operand}}
  %r = tgraph.contract "mn,np->mz" %a, %b : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @count(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>) {
  // expected-error @+1 {{spec names 3 operands, the op has 2}}
  %r = tgraph.contract "mn,np,pq->mq" %a, %b : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @one_operand(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{contracts at least two operands}}
  %r = tgraph.contract "mn->m" %a : tensor<4x8xf32> -> tensor<4xf32>
  return
}

// -----

func.func @weights_count(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>) {
  // expected-error @+1 {{weights has 1 entries for 2 operands}}
  %r = tgraph.contract "mn,np->mp" %a, %b {weights = array<i1: true>} : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @rank(%a: tensor<4x8x1xf32>, %b: tensor<8x2xf32>) {
  // expected-error @+1 {{operand #0 has rank 3 but "mn" names 2 dimensions}}
  %r = tgraph.contract "mn,np->mp" %a, %b : tensor<4x8x1xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @sizes(%a: tensor<4x8xf32>, %b: tensor<9x2xf32>) {
  // expected-error @+1 {{index 'n' has size 8 and 9}}
  %r = tgraph.contract "mn,np->mp" %a, %b : tensor<4x8xf32>, tensor<9x2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @elements(%a: tensor<4x8xf32>, %b: tensor<8x2xf16>) {
  // expected-error @+1 {{operands and result must share one element type, got 'f32' and 'f16'}}
  %r = tgraph.contract "mn,np->mp" %a, %b : tensor<4x8xf32>, tensor<8x2xf16> -> tensor<4x2xf32>
  return
}

// -----

func.func @ints(%a: tensor<4x8xi32>, %b: tensor<8x2xi32>) {
  // expected-error @+1 {{contracts floating-point tensors, got 'i32'}}
  %r = tgraph.contract "mn,np->mp" %a, %b : tensor<4x8xi32>, tensor<8x2xi32> -> tensor<4x2xi32>
  return
}
