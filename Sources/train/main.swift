import RNNTrainTool

TrainCommand.main()
