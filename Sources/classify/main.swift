import RNNClassifyTool

ClassifyCommand.main()
