/// Previews of a generation in progress, made straight from the latents without the VAE: each
/// latent pixel becomes one RGB pixel through a fixed linear map, so a preview is 1/8 of the
/// image's size per side and costs microseconds where a VAE decode costs as much as several
/// denoising steps. Good enough to watch a picture form; not an image to keep.
public enum LatentPreview {
    /// RGB contribution of each of Stable Diffusion 1.x's four latent channels: an approximation of
    /// its VAE decoder by a least-squares linear fit (a widely used set of coefficients).
    static let stableDiffusionFactors: [[Float]] = [
        [0.3512, 0.2297, 0.3227],
        [0.3250, 0.4974, 0.2350],
        [-0.2829, 0.1762, 0.2721],
        [-0.2120, -0.2616, -0.7177],
    ]

    /// The preview of unit-variance latents [channels, height, width]: an image of `width`×`height`
    /// pixels in [0, 1]. Four-channel latents use the Stable Diffusion map, three channels are taken
    /// as pixels in [-1, 1] (a model without a VAE); others show the channels' mean in grey.
    public static func image(latents: [Float], channels: Int, height: Int, width: Int) -> GeneratedImage {
        let pixels = height * width
        precondition(latents.count == channels * pixels, "latents and their shape disagree")
        var rgb = [Float](repeating: 0, count: 3 * pixels)
        for pixel in 0..<pixels {
            for color in 0..<3 {
                var value: Float = 0
                if channels == 4 {
                    for channel in 0..<4 { value += latents[channel * pixels + pixel] * stableDiffusionFactors[channel][color] }
                } else if channels == 3 {
                    value = latents[color * pixels + pixel]  // a pixel-space model: these are the pixels
                } else {
                    for channel in 0..<channels { value += latents[channel * pixels + pixel] }
                    value /= Float(max(channels, 1))
                }
                rgb[color * pixels + pixel] = min(max(value / 2 + 0.5, 0), 1)
            }
        }
        return GeneratedImage(width: width, height: height, pixels: rgb, latents: latents)
    }
}
