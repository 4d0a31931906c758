pub mod mock_hub;
