"""GenAU 1D-VAE (AutoencoderKL1D) and its training losses."""

import pytest
import torch

from hf_audiogen.genau import AutoencoderKL1D, AutoencoderKL1DLoss, MelPatchDiscriminator

from factories import tiny_genau_vae


def test_shapes_x4_time_and_reference_parameter_names():
    vae = tiny_genau_vae()
    assert vae.temporal_downsampling == 4
    mel = torch.randn(2, 64, 1024)
    posterior = vae.encode(mel).latent_dist
    assert posterior.mean.shape == (2, 8, 256)
    assert vae.decode(posterior.mode()).sample.shape == (2, 64, 1024)
    assert vae(torch.randn(1, 64, 50)).sample.shape == (1, 64, 50)  # odd lengths are cut back to the input's
    names = set(vae.state_dict())
    for key in [
        "encoder.down.0.block.0.conv1.weight",
        "encoder.down.0.downsample.conv.weight",
        "encoder.down.2.block.0.nin_shortcut.weight",
        "encoder.mid.attn_1.proj_out.weight",
        "decoder.up.1.upsample.conv.weight",
        "decoder.up.2.block.1.norm2.weight",
        "decoder.mid.block_2.conv2.bias",
        "quant_conv.weight",
        "post_quant_conv.weight",
    ]:
        assert key in names, key
    assert "encoder.down.2.downsample.conv.weight" not in names and "decoder.up.0.upsample.conv.weight" not in names


def test_downsampling_is_zero_pad_then_valid_stride_2_conv():
    vae = tiny_genau_vae()
    down = vae.encoder.down[0].downsample.conv
    x = torch.randn(1, 16, 11)
    expected = torch.nn.functional.conv1d(torch.nn.functional.pad(x, (1, 1)), down.weight, down.bias, stride=2)
    torch.testing.assert_close(vae.encoder.down[0].downsample(x), expected)


def test_kl_and_sampling():
    vae = tiny_genau_vae()
    posterior = vae.encode(torch.randn(3, 64, 16)).latent_dist
    mean, logvar = posterior.mean, posterior.logvar
    expected = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(dim=(1, 2))
    torch.testing.assert_close(posterior.kl(), expected)
    a = posterior.sample(generator=torch.Generator().manual_seed(3))
    b = posterior.sample(generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, posterior.mode())


def test_save_load_is_exact(tmp_path):
    vae = tiny_genau_vae(scaling_factor=0.7)
    vae.save_pretrained(tmp_path)
    loaded = AutoencoderKL1D.from_pretrained(tmp_path).eval()
    assert loaded.config.scaling_factor == 0.7 and list(loaded.config.block_out_channels) == [16, 16, 32]
    mel = torch.randn(2, 64, 64)
    assert torch.equal(loaded(mel).sample, vae(mel).sample)


def test_loss_terms_and_training_reduces_reconstruction_error():
    torch.manual_seed(0)
    vae = tiny_genau_vae().train()
    disc = MelPatchDiscriminator(base_channels=4, num_layers=2)
    loss_fn = AutoencoderKL1DLoss(kl_weight=1e-3, disc_start=5)
    mel = torch.randn(4, 64, 32) * 2 - 4
    opt = torch.optim.Adam(list(vae.parameters()) + list(loss_fn.parameters()), lr=3e-3)
    opt_d = torch.optim.Adam(disc.parameters(), lr=1e-3)
    first = None
    for step in range(25):
        posterior = vae.encode(mel).latent_dist
        rec = vae.decode(posterior.sample()).sample
        loss, logs = loss_fn.generator_loss(mel, rec, posterior, disc, step, last_layer=vae.get_last_layer())
        opt.zero_grad()
        loss.backward()
        opt.step()
        d_loss, d_logs = loss_fn.discriminator_loss(mel, rec, disc, step)
        if step >= 5:
            assert "g_loss" in logs and logs["d_weight"] > 0 and d_loss.item() > 0
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        else:
            assert "g_loss" not in logs and d_loss.item() == 0
        first = first if first is not None else logs["rec_loss"]
    assert logs["rec_loss"] < 0.7 * first, (first, logs["rec_loss"])


def test_bad_inputs():
    vae = tiny_genau_vae()
    with pytest.raises(ValueError, match="mel bins as channels"):
        vae.encode(torch.randn(2, 1024, 64))
    with pytest.raises(ValueError, match="latents of shape"):
        vae.decode(torch.randn(2, 64, 10))
    with pytest.raises(ValueError, match="norm_num_groups"):
        AutoencoderKL1D(block_out_channels=(30,), norm_num_groups=4)
    with pytest.raises(ValueError, match="kl_weight"):
        AutoencoderKL1DLoss(kl_weight=-1)
