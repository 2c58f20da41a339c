"""Which operators a TorchScript / torch.export graph may use, and which ONNX domains.

Deny by default: an operator runs only if it is named here. The list was built from

* every ``aten::`` / ``prim::`` operator in the graphs of the five built-ins
  (``deepfx.builtins.catalog()``), the genuine audacitorch models and the docs' examples
  (``ops_of`` over them; ``tests/test_trust_model.py`` checks they all pass), and
* reviewed families common in audio networks: convolutions and transposed convolutions,
  recurrent cells (LSTM/GRU/RNN), FFT/STFT/iSTFT, attention, normalisations, activations,
  pooling, elementwise maths, reductions, shape/indexing ops, tensor creation, and the
  TorchScript list/str/dict/number builtins.

Every one of them only computes on tensors and Python values. What is *not* here, on
purpose: anything that reads or writes files (``aten::from_file``, ``aten::save``,
``aten::_load_for_mobile``...), prints (``prim::Print``), calls Python (``prim::PythonOp``),
any namespace other than ``aten``/``prim`` (custom C++ ops, ``quantized::`` with its packed
objects, ``torch.ops.higher_order``), and any call that cannot be resolved statically.
Adding an operator: check its schema takes and returns only tensors/numbers/lists/strings,
and that its kernel touches no file, process or socket; add a test with a model using it.
"""

from __future__ import annotations

__all__ = [
    "ALLOWED_TORCH_OPS",
    "DENIED_TORCH_OPS",
    "ONNX_DOMAINS",
    "PY_OPERATOR_TARGETS",
    "torch_op_allowed",
]

_PRIM = """
Constant GetAttr SetAttr If Loop ListConstruct ListUnpack TupleConstruct TupleUnpack
TupleIndex TupleSlice DictConstruct DictIndex NumToTensor RaiseException Uninitialized
unchecked_cast device dtype data max min tolist CreateObject Enter Exit isinstance is_cuda
is_cpu is_mps layout shape requires_grad abs rangelist StringIndex type AutogradZero
AutogradAdd ImplicitTensorToNum EnumName EnumValue Guard BailOut TypeCheck
unchecked_unwrap_optional ConstantChunk MMTreeReduce MMBatchSide Store Load is_nested
is_sparse is_quantized is_meta is_xpu is_xla is_vulkan is_ipu is_mkldnn name index
""".split()

_ATEN = """
__and__ __contains__ __derive_index __getitem__ __is__ __isnot__ __not__ __or__ __xor__
__range_length __round_to_zero_floordiv __interpolate __upsample __upsample_bilinear
__lshift__ __rshift__ __iand__ __ior__ __ixor__ __ilshift__ __irshift__
Bool Float Int IntImplicit FloatImplicit ComplexImplicit ScalarImplicit Complex str
append extend insert pop remove clear copy len list reverse sort sorted count index keys
values items get setdefault update dict join split strip lower upper startswith endswith
replace isdigit isspace format warn divmod _set_item _get_item
add add_ sub sub_ rsub mul mul_ div div_ true_divide floor_divide floordiv remainder fmod
neg abs abs_ sign sgn pow pow_ sqrt rsqrt exp exp2 expm1 log log2 log10 log1p sin cos tan
asin acos atan atan2 sinh cosh tanh asinh acosh atanh sinc floor ceil round trunc frac
reciprocal square clamp clamp_ clamp_min clamp_min_ clamp_max clamp_max_ clip clip_
maximum minimum fmax fmin lerp hypot erf erfc erfinv logaddexp logit xlogy nan_to_num
addcmul addcdiv copysign deg2rad rad2deg signbit heaviside
eq ne lt le gt ge isnan isinf isfinite isclose allclose equal logical_and logical_or
logical_not logical_xor bitwise_and bitwise_or bitwise_not bitwise_xor where masked_fill
masked_fill_ masked_select masked_scatter
sum mean std var std_mean var_mean prod max min amax amin argmax argmin median nanmedian
norm linalg_norm linalg_vector_norm frobenius_norm logsumexp cumsum cumprod cummax cummin
any all count_nonzero topk sort argsort kthvalue mode unique unique_consecutive _unique2
bincount histc searchsorted bucketize diff
relu relu_ relu6 leaky_relu leaky_relu_ elu elu_ selu celu gelu silu silu_ mish sigmoid
sigmoid_ tanh_ hardtanh hardtanh_ hardsigmoid hardswish softplus softsign softshrink
hardshrink tanhshrink prelu rrelu glu log_sigmoid logsigmoid threshold threshold_
softmax log_softmax _softmax _log_softmax softmin
linear bilinear matmul mm bmm addmm addbmm baddbmm addmv mv dot vdot outer ger einsum
tensordot kron chain_matmul linalg_matmul
conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d _convolution
convolution conv_tbc _convolution_mode
batch_norm _batch_norm_impl_index native_batch_norm _native_batch_norm_legit
_native_batch_norm_legit_no_training instance_norm layer_norm native_layer_norm group_norm
native_group_norm rms_norm _fused_rms_norm local_response_norm normalize
dropout dropout_ feature_dropout alpha_dropout native_dropout
max_pool1d max_pool2d max_pool3d max_pool1d_with_indices max_pool2d_with_indices
avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d adaptive_avg_pool2d
adaptive_max_pool1d adaptive_max_pool2d _adaptive_avg_pool2d lp_pool1d lp_pool2d
upsample_nearest1d upsample_nearest2d upsample_linear1d upsample_bilinear2d
upsample_bicubic2d interpolate pixel_shuffle pixel_unshuffle grid_sampler affine_grid
lstm lstm_cell gru gru_cell rnn_tanh rnn_relu rnn_tanh_cell rnn_relu_cell
_thnn_fused_lstm_cell _thnn_fused_gru_cell
scaled_dot_product_attention _scaled_dot_product_attention_math
_scaled_dot_product_flash_attention _scaled_dot_product_efficient_attention
_scaled_dot_product_flash_attention_for_cpu _native_multi_head_attention
_transform_bias_rescale_qkv _masked_softmax baddbmm_
stft istft fft_fft fft_ifft fft_rfft fft_irfft fft_fft2 fft_ifft2 fft_rfft2 fft_irfft2
fft_fftn fft_ifftn fft_rfftn fft_irfftn fft_hfft fft_ihfft fft_fftshift fft_ifftshift
fft_fftfreq fft_rfftfreq _fft_r2c _fft_c2r _fft_c2c hann_window hamming_window
blackman_window bartlett_window kaiser_window real imag view_as_real view_as_complex
complex polar angle conj conj_physical _conj resolve_conj resolve_neg abs_ _to_copy
view view_as reshape reshape_as flatten unflatten squeeze squeeze_ unsqueeze unsqueeze_
permute transpose transpose_ t t_ contiguous expand expand_as repeat repeat_interleave
tile flip fliplr flipud roll rot90 narrow narrow_copy select slice slice_scatter
select_scatter index index_select index_put index_put_ index_add index_copy index_fill
index_fill_ gather scatter scatter_ scatter_add scatter_add_ scatter_reduce take
take_along_dim chunk split split_with_sizes unsafe_split unsafe_chunk tensor_split
unbind cat concat concatenate stack hstack vstack dstack movedim moveaxis swapaxes swapdims
unfold fold im2col col2im diag diagonal diag_embed tril triu trace as_strided
alias clone detach detach_ copy_ fill_ zero_ to type_as cpu cuda float double half int
long bool short char byte bfloat16 numel dim size stride storage_offset is_contiguous
is_floating_point is_complex element_size item tolist broadcast_tensors broadcast_to
meshgrid cartesian_prod nonzero nonzero_static argwhere constant_pad_nd pad reflection_pad1d
reflection_pad2d reflection_pad3d replication_pad1d replication_pad2d replication_pad3d
_pad_circular _pad_enum
tensor scalar_tensor as_tensor zeros zeros_like ones ones_like empty empty_like
empty_strided full full_like new_zeros new_ones new_empty new_full new_tensor arange
linspace logspace eye rand rand_like randn randn_like randint randint_like randperm
normal bernoulli multinomial dropout_ uniform_ normal_ lift_fresh lift_fresh_copy
sym_size sym_numel sym_stride sym_storage_offset sym_constrain_range
sym_constrain_range_for_size _assert_async _assert_scalar _assert_tensor_metadata
_functional_assert_async _functional_sym_constrain_range
_local_scalar_dense _unsafe_view _reshape_alias embedding embedding_bag one_hot
cosine_similarity pairwise_distance cdist mse_loss l1_loss smooth_l1_loss huber_loss
cross_entropy nll_loss binary_cross_entropy binary_cross_entropy_with_logits kl_div
pdist triu_indices tril_indices quantile nanquantile nansum nanmean mT mH adjoint
is_autocast_enabled is_autocast_cpu_enabled is_grad_enabled is_inference_mode_enabled
is_nonzero is_same_size is_signed is_leaf get_device
""".split()

#: Qualified names (``namespace::name``, no overload) that may appear in a graph.
ALLOWED_TORCH_OPS: frozenset[str] = frozenset(
    [f"prim::{n}" for n in _PRIM] + [f"aten::{n}" for n in _ATEN]
)

#: Named here only so the error can say why; anything not allowed is refused anyway.
DENIED_TORCH_OPS: dict[str, str] = {
    "aten::from_file": "reads a file",
    "aten::save": "writes a file",
    "aten::_load_for_mobile": "reads a file",
    "prim::Print": "writes to the terminal",
    "prim::PythonOp": "calls Python code",
    "prim::CallFunction": "calls a function the checker could not inline",
    "prim::CallMethod": "calls a method the checker could not inline",
}

#: torch.export targets that are Python's own operators (``_operator.getitem``...) on
#: symbolic sizes, and torch's symbolic-size helpers.
PY_OPERATOR_TARGETS: frozenset[str] = frozenset(
    [
        f"_operator.{n}"
        for n in (
            "getitem add sub mul floordiv truediv mod pow neg pos abs ge gt le lt eq ne "
            "and_ or_ xor not_ invert lshift rshift"
        ).split()
    ]
    + [f"math.{n}" for n in "ceil floor trunc sqrt".split()]
    + [
        f"torch.{n}"
        for n in "sym_float sym_int sym_max sym_min sym_not sym_ite sym_sqrt sym_sum".split()
    ]
    + ["torch._sym_sqrt"]
)

#: ONNX operator domains onnxruntime's standard kernels implement ('' is ai.onnx).
ONNX_DOMAINS: frozenset[str] = frozenset({"", "ai.onnx", "ai.onnx.ml"})


def torch_op_allowed(qualified: str) -> tuple[bool, str]:
    """``(allowed, why-not)`` for ``aten::conv1d`` style names (any ``.overload`` cut)."""
    base = qualified.split(".", 1)[0]
    if base in ALLOWED_TORCH_OPS:
        return True, ""
    if base in DENIED_TORCH_OPS:
        return False, DENIED_TORCH_OPS[base]
    ns = base.split("::", 1)[0]
    if ns not in ("aten", "prim"):
        return False, f"custom operator namespace {ns!r} is not allowed"
    return False, "not on deepfx's operator allow-list"
