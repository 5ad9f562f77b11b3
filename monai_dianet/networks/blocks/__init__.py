# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Building blocks of the monai-dianet networks."""
from .backbone import RESNET_BACKBONES, DIANetBackbone, ResNetStages
from .codebook import CodeBook
from .dianet_heads import OutputProjection, ReconstructionDecoder, SegmentationDecoder
from .diffuser import Diffuser
from .discriminator import DomainDiscriminator, LatentDiscriminator
from .feature_pyramid import FeaturePyramidFusion
from .gradient_reversal import DANNSchedule, GradientReversal, grad_reverse
from .probabilistic_latent import ProbabilisticLatent
from .stage_attention import SpatialAttention, StageAttention
from .clinical_encoder import ClinicalEncoder
from .genomic_encoder import GeneTransformerEncoder
from .graph_encoder import GeneGraphEncoder, batch_edge_index
from .image_encoder import ImageEncoder
from .modality_fusion import AttentionPooling, ModalityAttentionFusion, inverse_variance_weights
from .feature_gate import FeatureGate
from .snn_encoder import SNNEncoder
