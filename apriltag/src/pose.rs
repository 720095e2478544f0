//! The library's tag pose estimation (homography seed, then orthogonal iteration keeping
//! the better of up to two local minima).

use apriltag_sys as sys;
use nalgebra::{Matrix3, Matrix4, Vector3};
use serde::{Deserialize, Serialize};

use crate::detector::Detection;

/// Pinhole intrinsics in pixels, in the library's pixel-corner convention (the centre of
/// pixel (0, 0) is (0.5, 0.5)). No lens distortion.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CameraIntrinsics {
    /// Focal length along x, pixels.
    pub fx: f64,
    /// Focal length along y, pixels.
    pub fy: f64,
    /// Principal point x, pixels.
    pub cx: f64,
    /// Principal point y, pixels.
    pub cy: f64,
}

/// `T_cam_tag`: the tag's pose in the camera frame, metres.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TagPose {
    /// Rotation from tag frame to camera frame.
    pub rotation: Matrix3<f64>,
    /// Tag centre in the camera frame, metres.
    pub translation: Vector3<f64>,
    /// The library's object-space error of this solution (squared tag-size units).
    pub object_error: f64,
}

/// Estimates the pose of `detection` for a tag of edge `tag_size_m` (the black border's
/// outer edge) seen through `k`.
pub fn estimate_pose(detection: &Detection, tag_size_m: f64, k: CameraIntrinsics) -> TagPose {
    // The C function reads only `H` and `p` of the detection, so we lend it a detection
    // built on our stack rather than keeping the C allocation alive.
    let mut h: [f64; 9] = [0.0; 9];
    for r in 0..3 {
        for c in 0..3 {
            h[r * 3 + c] = detection.homography[(r, c)];
        }
    }
    let mut h_mat = sys::matd_t {
        nrows: 3,
        ncols: 3,
        data: h.as_mut_ptr(),
    };
    let mut det = sys::apriltag_detection {
        family: std::ptr::null_mut(),
        id: detection.id as i32,
        hamming: detection.hamming as i32,
        decision_margin: detection.decision_margin,
        H: &mut h_mat,
        c: [detection.center.x, detection.center.y],
        p: detection.corners.map(|p| [p.x, p.y]),
    };
    let mut info = sys::apriltag_detection_info_t {
        det: &mut det,
        tagsize: tag_size_m,
        fx: k.fx,
        fy: k.fy,
        cx: k.cx,
        cy: k.cy,
    };
    let mut pose = sys::apriltag_pose_t {
        R: std::ptr::null_mut(),
        t: std::ptr::null_mut(),
    };
    // SAFETY: `info` points at live stack values; the function allocates R and t, which
    // we copy and free.
    unsafe {
        let err = sys::estimate_tag_pose(&mut info, &mut pose);
        let r = std::slice::from_raw_parts((*pose.R).data, 9);
        let t = std::slice::from_raw_parts((*pose.t).data, 3);
        let out = TagPose {
            rotation: Matrix3::from_row_slice(r),
            translation: Vector3::new(t[0], t[1], t[2]),
            object_error: err,
        };
        sys::matd_destroy(pose.R);
        sys::matd_destroy(pose.t);
        out
    }
}

extern "C" {
    // Compiled into the library by apriltag-sys (common/homography.c) but not in its
    // generated bindings.
    fn homography_to_pose(
        h: *const sys::matd_t,
        fx: f64,
        fy: f64,
        cx: f64,
        cy: f64,
    ) -> *mut sys::matd_t;
}

/// The library's `homography_to_pose(H, fx, fy, cx, cy)`: the 4×4 pose whose translation
/// is in tag half-size units (the tag spans [−1, 1]). This is what OpenMV's
/// `find_apriltags` calls, with `-fx`, so the camera's pose fields come from exactly this
/// function.
pub fn homography_to_pose_raw(
    h: &Matrix3<f64>,
    fx: f64,
    fy: f64,
    cx: f64,
    cy: f64,
) -> Matrix4<f64> {
    let mut data: [f64; 9] = std::array::from_fn(|i| h[(i / 3, i % 3)]);
    let m = sys::matd_t {
        nrows: 3,
        ncols: 3,
        data: data.as_mut_ptr(),
    };
    // SAFETY: `m` describes `data`, alive for the call; the result is a fresh 4×4 matd
    // that we copy and free.
    unsafe {
        let out = homography_to_pose(&m, fx, fy, cx, cy);
        let d = std::slice::from_raw_parts((*out).data, 16);
        let pose = Matrix4::from_row_slice(d);
        sys::matd_destroy(out);
        pose
    }
}
