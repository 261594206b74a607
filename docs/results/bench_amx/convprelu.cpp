// oneDNN directly (issue #15, 2026-12-05): a 64->64 3x3 bf16 convolution of one 8-frame window (8x64x200x340, nhwc),
// plain, with PReLU as a post-op, and followed by a PReLU primitive. Built against PyPI's oneDNN 3.2 (CPU, GNU OpenMP):
//   pip download --no-deps onednn-cpu-gomp==2023.2.0 onednn-devel-cpu-gomp==2023.2.0 -d dl; unzip both wheels into .
//   g++ -O2 -std=c++17 -I onednn_devel_cpu_gomp-2023.2.0.data/data/include convprelu.cpp \
//     -L onednn_cpu_gomp-2023.2.0.data/data/lib -l:libdnnl.so.3 -Wl,-rpath,onednn_cpu_gomp-2023.2.0.data/data/lib
//   OMP_NUM_THREADS=2 ./a.out
// torch_side.py times the same convolution and torch's PReLU after it. Output: convprelu.txt.
#include <oneapi/dnnl/dnnl.hpp>
#include <chrono>
#include <cstdio>
#include <vector>
#include <algorithm>
using namespace dnnl;
using dt = memory::data_type;
using tag = memory::format_tag;
static double med(std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; }
int main() {
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  memory::dims src = {8, 64, 200, 340}, wei = {64, 64, 3, 3}, bia = {64};
  auto src_md = memory::desc(src, dt::bf16, tag::nhwc);
  auto wei_any = memory::desc(wei, dt::bf16, tag::any);
  auto bia_md = memory::desc(bia, dt::bf16, tag::a);
  auto prelu_md = memory::desc({1, 64, 1, 1}, dt::bf16, tag::nhwc);
  auto make = [&](bool prelu) {
    primitive_attr attr;
    if (prelu) { post_ops po; po.append_prelu(1 << 1); attr.set_post_ops(po); }
    return convolution_forward::primitive_desc(eng, prop_kind::forward_inference, algorithm::convolution_direct,
        src_md, wei_any, bia_md, src_md, {1, 1}, {1, 1}, {1, 1}, attr);
  };
  auto pd_plain = make(false), pd_prelu = make(true);
  std::printf("impl plain: %s, prelu: %s\n", pd_plain.impl_info_str(), pd_prelu.impl_info_str());
  memory x(src_md, eng), y(src_md, eng), z(src_md, eng), w(pd_plain.weights_desc(), eng), b(bia_md, eng), a(prelu_md, eng);
  // fill
  auto fill = [](memory& m, float v) { auto* p = (uint16_t*)m.get_data_handle(); size_t n = m.get_desc().get_size() / 2;
    for (size_t i = 0; i < n; ++i) p[i] = 0x3c00 + (i * 7 % 64) * (v > 0 ? 1 : 0); };
  fill(x, 1); fill(w, 1); fill(b, 1); fill(a, 1);
  convolution_forward c_plain(pd_plain), c_prelu(pd_prelu);
  auto ppd = prelu_forward::primitive_desc(eng, prop_kind::forward_inference, src_md, prelu_md, src_md);
  prelu_forward p(ppd);
  std::vector<double> t1, t2, t3;
  for (int r = 0; r < 8; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    c_plain.execute(s, {{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, y}}); s.wait();
    auto ta = std::chrono::steady_clock::now();
    c_prelu.execute(s, {{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, y},
                        {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_WEIGHTS, a}}); s.wait();
    auto tb = std::chrono::steady_clock::now();
    c_plain.execute(s, {{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, y}});
    p.execute(s, {{DNNL_ARG_SRC, y}, {DNNL_ARG_WEIGHTS, a}, {DNNL_ARG_DST, z}}); s.wait();
    auto tc = std::chrono::steady_clock::now();
    if (r) {
      t1.push_back(std::chrono::duration<double, std::milli>(ta - t0).count());
      t2.push_back(std::chrono::duration<double, std::milli>(tb - ta).count());
      t3.push_back(std::chrono::duration<double, std::milli>(tc - tb).count());
    }
  }
  std::printf("per 8-frame window at 320x180 (+pad): conv %.1f ms, conv+PReLU fused %.1f ms, conv then PReLU %.1f ms\n",
              med(t1), med(t2), med(t3));
}
