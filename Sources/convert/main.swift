import RNNConvertTool

ConvertCommand.main()
