# Pinned third-party sources (sourced by fetch.sh). Each comes from Debian's source archive (the one
# registry every machine of this project reaches), is verified by SHA-256, and is unpacked under the
# user's cache, never into the repository. Fallback on machines with normal internet: the upstream git
# repository at a pinned commit (git verifies the content against the commit id); a dependency pinned
# by tag instead (imgui) has the SHA-256 of every file we compile in NAME.files.sha256.
#   name | Debian suite | source package=version | orig tarball | sha256 | upstream git | commit or tag

DIGITLAB_DEPS=(
  "xnnpack|trixie|xnnpack=0.0~git20241108.4ea82e5-2|xnnpack_0.0~git20241108.4ea82e5.orig.tar.xz|90bde2caef0f880f627bab0dc805a86c4b8070cd98e3243db3046ab3f3be1a99|https://github.com/google/XNNPACK.git|4ea82e595b36106653175dcb04b2aa532660d0d8"
  "pthreadpool|trixie|pthreadpool=0.0~git20240616.560c60d-1|pthreadpool_0.0~git20240616.560c60d.orig.tar.xz|4cc3cbd933b28131d2a34edc54f76af9fb41bc490af5eae1a5bd3cd07ea90708|https://github.com/Maratyszcza/pthreadpool.git|560c60d342a76076f0557a3946924c6478470044"
  "fxdiv|trixie|fxdiv=0.0~git20200417.b408327-4|fxdiv_0.0~git20200417.b408327.orig.tar.xz|7953482badaf4cb34026c3487c257b8e4ab2df061c019bd6fabbbc12ad52c44b|https://github.com/Maratyszcza/FXdiv.git|b408327ac2a15ec3e43352421954f5b1967701d1"
  "imgui|trixie|imgui=1.90.1+ds-1|imgui_1.90.1+ds.orig.tar.xz|ecce377df0f90b292f15dcbd83d438bddc162b2388c881132bde18c787572a1c|https://github.com/ocornut/imgui.git|v1.90.1"
  "zlib|bookworm|zlib=1:1.2.13.dfsg-1|zlib_1.2.13.dfsg.orig.tar.bz2|71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1|https://github.com/madler/zlib.git|04f42ceca40f73e2978b50e93806c2a18c1281fc"
)
