"""Networks (blocks and nets) of monai-dianet."""
