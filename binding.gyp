{
  "targets": [
    {
      "target_name": "vipd_native",
      "sources": ["native/vipd_native.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": [
        "-std=gnu11",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-Wno-missing-field-initializers",
        "-fvisibility=hidden"
      ]
    }
  ]
}
