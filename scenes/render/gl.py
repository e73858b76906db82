"""OpenGL RGB-D renderer: moderngl over a headless EGL context (Mesa llvmpipe on CPU, the GPU's EGL
where present). Install with ``pip install 'earshot[gl]'`` plus the Debian/Ubuntu packages
``libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri``.

EGL contexts do not survive ``fork``: the context is created lazily in the process that first
renders, one per process; vectorized environments should use the ``forkserver`` or ``spawn``
start method.
"""

from __future__ import annotations

import os

import numpy as np

from ..scene import Scene
from .camera import DEFAULT_CAMERA_HEIGHT, Camera
from .raycast import AMBIENT, BACKGROUND_RGB, DIFFUSE

EGL_PACKAGES = "libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri"
NEAR, FAR = 0.01, 1000.0  # m, clipping planes

_VERTEX_SHADER = """
#version 330
uniform mat4 view;
uniform mat4 proj;
in vec3 in_pos;
in vec3 in_normal;
in vec3 in_color;
out vec3 v_world;
out vec3 v_normal;
out vec3 v_color;
out float v_depth;
void main() {
    vec4 cam = view * vec4(in_pos, 1.0);
    v_world = in_pos;
    v_normal = in_normal;
    v_color = in_color;
    v_depth = -cam.z;
    gl_Position = proj * cam;
}
"""

# One colour attachment (RG32F) holds both images, so a frame is read back in one call: R carries
# the colour's three bytes (quantized here exactly as a unorm8 attachment stores a float colour:
# clamped to [0, 1], times 255, rounded to nearest even) under a fixed exponent byte 0x3F, which
# keeps every packed value a normal float that a float attachment stores unchanged; G carries the
# z-depth in metres. A cleared pixel reads (0, 0): no colour, depth 0 = no hit.
_PACK_EXPONENT = 0x3F000000
_FRAGMENT_SHADER = f"""
#version 330
uniform vec3 eye;
in vec3 v_world;
in vec3 v_normal;
in vec3 v_color;
in float v_depth;
layout(location = 0) out vec2 out_packed;
void main() {{
    vec3 to_eye = normalize(eye - v_world);
    float shade = {AMBIENT} + {DIFFUSE} * abs(dot(v_normal, to_eye));
    vec3 color = clamp(clamp(v_color * shade, 0.0, 255.0) / 255.0, 0.0, 1.0);
    uvec3 q = uvec3(roundEven(color * 255.0));
    out_packed = vec2(uintBitsToFloat({_PACK_EXPONENT}u | q.r | (q.g << 8) | (q.b << 16)), v_depth);
}}
"""

_contexts: dict[int, object] = {}


def _context():
    """The process's EGL context (created on first use in this process)."""
    pid = os.getpid()
    if pid not in _contexts:
        try:
            import moderngl
        except ImportError as exc:
            raise ImportError("the 'gl' renderer needs moderngl: pip install 'earshot[gl]'") from exc
        try:
            _contexts[pid] = moderngl.create_standalone_context(backend="egl", require=330)
        except Exception as exc:
            raise RuntimeError(
                f"could not create a headless EGL OpenGL context ({type(exc).__name__}: {exc}); install the system "
                f"packages {EGL_PACKAGES} (Debian/Ubuntu: apt-get install {EGL_PACKAGES}) or use renderer='raycast'"
            ) from exc
    return _contexts[pid]


def egl_available() -> tuple[bool, str]:
    """(True, renderer name) if an EGL context can be created here, else (False, the reason)."""
    try:
        ctx = _context()
        return True, ctx.info.get("GL_RENDERER", "unknown")
    except Exception as exc:
        return False, str(exc)


class GLRenderer:
    """Rasterizes ``rgb`` uint8 (H, W, 3) and z-depth float32 (H, W) metres with OpenGL."""

    backend = "gl"

    def __init__(self, scene: Scene, width: int = 128, height: int = 128, hfov_deg: float = 90.0,
                 camera_height: float | None = None):
        self.scene = scene
        self.camera = Camera(width, height, hfov_deg, DEFAULT_CAMERA_HEIGHT if camera_height is None else camera_height)
        self._gl = None  # created on first render, in the rendering process

    def __getstate__(self) -> dict:  # GL objects belong to one process: recreated after unpickling
        return {**self.__dict__, "_gl": None, "_owned": [], "_frame": None}

    def _setup(self):
        import moderngl

        ctx = _context()
        scene = self.scene
        tris = scene.triangles.astype(np.float32).reshape(-1, 3)
        normals = np.repeat(scene.face_normals.astype(np.float32), 3, axis=0)
        colors = np.repeat(scene.face_colors.astype(np.float32), 3, axis=0)
        data = np.ascontiguousarray(np.hstack([tris, normals, colors]), dtype=np.float32)
        program = ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        vbo = ctx.buffer(data.tobytes())
        vao = ctx.vertex_array(program, [(vbo, "3f 3f 3f", "in_pos", "in_normal", "in_color")])
        w, h = self.camera.width, self.camera.height
        packed = ctx.renderbuffer((w, h), components=2, dtype="f4")  # colour bytes and depth, see above
        zbuffer = ctx.depth_renderbuffer((w, h))
        fbo = ctx.framebuffer(color_attachments=[packed], depth_attachment=zbuffer)
        f = self.camera.focal
        proj = np.zeros((4, 4), np.float32)
        proj[0, 0] = f / (w / 2)
        proj[1, 1] = f / (h / 2)
        proj[2, 2] = -(FAR + NEAR) / (FAR - NEAR)
        proj[2, 3] = -2 * FAR * NEAR / (FAR - NEAR)
        proj[3, 2] = -1.0
        program["proj"].write(proj.T.copy().tobytes())  # GLSL matrices are column-major
        self._gl = (ctx, program, vao, fbo, moderngl)
        self._frame = np.empty((h, w, 2), np.float32)  # the one read-back buffer, reused every frame
        # every GPU object this renderer owns, released on close (moderngl's gc_mode is off:
        # nothing is freed when the Python objects go away)
        self._owned = [vao, fbo, program, vbo, packed, zbuffer]

    def render(self, position, heading: float) -> tuple[np.ndarray, np.ndarray]:
        """RGB-D for an agent at ``position`` (feet, metres) facing ``heading`` (radians)."""
        eye = self.camera.eye(position, self.scene.floor_height)
        rot = self.camera.rotation(float(heading))
        if self._gl is None:
            self._setup()
        ctx, program, vao, fbo, moderngl = self._gl
        forward, left, up = rot[:, 0], rot[:, 1], rot[:, 2]
        axes = np.stack([-left, up, -forward])  # GL camera: x right, y up, looking down -z
        view = np.eye(4)
        view[:3, :3] = axes
        view[:3, 3] = -axes @ eye
        program["view"].write(view.astype(np.float32).T.copy().tobytes())
        program["eye"].value = tuple(float(v) for v in eye)
        fbo.use()
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)  # depth 0 = no hit
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.CULL_FACE)
        vao.render(moderngl.TRIANGLES)
        return self._read()

    def _read(self) -> tuple[np.ndarray, np.ndarray]:
        """The frame in one read-back: unpacked to rgb uint8 (background where nothing was hit) and
        depth float32, both flipped to image rows (GL's first row is the bottom one)."""
        frame = self._read_back()[::-1]
        depth = frame[:, :, 1].copy()  # a copy: the read-back buffer is reused
        rgb = np.array(frame[:, :, :1].view(np.uint8)[:, :, :3])  # little-endian: bytes 0-2 are r, g, b
        missed = depth <= 0
        if missed.any():
            rgb[missed] = BACKGROUND_RGB
        return rgb, depth

    def _read_back(self) -> np.ndarray:
        """The framebuffer as stored, (H, W, 2) float32, bottom row first: one read call."""
        self._gl[3].read_into(self._frame, components=2, attachment=0, dtype="f4")
        return self._frame

    def clear_and_read(self) -> None:
        """The bare cost under every frame, nothing drawn: clear the framebuffer and read it back
        (the benchmark's reference for this backend)."""
        if self._gl is None:
            self._setup()
        fbo = self._gl[3]
        fbo.use()
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self._read_back()

    def close(self) -> None:
        if self._gl is not None:
            for obj in self._owned:
                obj.release()
            self._owned = []
            self._gl = None
